import fs from 'node:fs';
import path from 'node:path';
import type { ActionDefinition, InputReader } from '@anew/action';
import { readBuildRecord } from '@anew/core/build';
import { UserError } from '@anew/core/errors';
import { runContextFromEnv } from '@anew/core/github';
import type { SigningMethod } from '@anew/core/provenance';
// Only the key reader at start-up: Sigstore, the HTTP client and Octokit load when main signs.
import { loadSigningKey, type SigningKey } from '@anew/core/provenance/keys';
import { type Digest, type Reference, shortDigest } from '@anew/core/ref';
import { type Credential, RegistryClient } from '@anew/core/registry';
import { spec } from './spec.ts';

export interface AttestInputs {
  image: Reference & { digest: Digest };
  /** Undefined: keyless. */
  signingKey?: SigningKey;
  fulcioUrl: string;
  rekorUrl: string;
  push: boolean;
  githubAttestation: boolean;
  /** Undefined: what build recorded in the job for this digest. */
  inputsDigest?: Digest;
  baseDigest?: Digest;
  startedOn: Date;
  credential?: Credential;
  githubToken?: string;
}

export type AttestOutputs = { 'attestation-digest': Digest | undefined; 'bundle-path': string };

/** Every input but the image (ship reads these before build has made the image). */
export function parseRest(r: InputReader): Omit<AttestInputs, 'image'> {
  const pem = r.secret('signing-key');
  const password = r.secret('signing-key-password');
  if (password !== undefined && pem === undefined) {
    throw new UserError(
      `${r.name('signing-key-password')} is set but ${r.name('signing-key')} is not`,
      'Give the key too, or remove the password to sign keyless',
    );
  }
  const signingKey = pem === undefined ? undefined : loadSigningKey(pem, password, r.name('signing-key'));
  if (!signingKey && !process.env['ACTIONS_ID_TOKEN_REQUEST_URL']) {
    throw new UserError(
      "keyless signing needs the job's OIDC token, and there is none here",
      r.source.commandLine
        ? 'Sign with a key: --signing-key-file PATH, --signing-key-stdin or $ANEW_SIGNING_KEY (keyless signing needs a GitHub Actions job with `permissions: id-token: write`)'
        : 'Add `permissions: id-token: write` to the job, or sign with signing-key',
    );
  }
  const githubAttestation = r.bool('github-attestation');
  const githubToken = r.secret('github-token');
  if (githubAttestation && !githubToken) {
    throw new UserError(
      `${r.name('github-attestation')} is true but ${r.name('github-token')} is empty`,
      'Pass a token with `attestations: write`',
    );
  }
  return {
    signingKey,
    fulcioUrl: r.url('fulcio-url'),
    rekorUrl: r.url('rekor-url'),
    push: r.bool('push-to-registry'),
    githubAttestation,
    inputsDigest: r.digest('inputs-digest'),
    baseDigest: r.digest('base-digest'),
    // The build's own times when it recorded them (read in main); else this process's start
    // (the runner starts one per step, so this is when attest started).
    startedOn: new Date(Date.now() - process.uptime() * 1000),
    credential: r.credential('registry-username', 'registry-password'),
    githubToken,
  };
}

export function parse(r: InputReader): AttestInputs {
  return { image: r.pinnedImage('image'), ...parseRest(r) };
}

/** The job's OIDC token for Sigstore; its failures are the workflow's to fix. */
async function jobToken(): Promise<string> {
  try {
    const core = await import('@actions/core');
    return await core.getIDToken('sigstore');
  } catch (e) {
    throw new UserError(
      `the job's OIDC token could not be obtained: ${(e as Error).message}`,
      'Add `permissions: id-token: write` to the job, or sign with signing-key',
    );
  }
}

const action: ActionDefinition<AttestInputs, AttestOutputs> = {
  ...spec,
  parse,
  async main(inputs, { log, summary, jobDir }) {
    const { image } = inputs;
    const recorded = readBuildRecord(jobDir, image.digest);
    if (recorded.reused)
      log.info(
        `build reused ${image.digest} from its cache: the provenance says so, and names ${recorded.reused.builtBy ?? 'no run'} as the one that built it`,
      );
    const signing: SigningMethod = inputs.signingKey
      ? { kind: 'key', key: inputs.signingKey }
      : {
          kind: 'keyless',
          token: await jobToken(),
          fulcioUrl: inputs.fulcioUrl,
          rekorUrl: inputs.rekorUrl,
        };
    if (signing.kind === 'keyless') log.setSecret(signing.token);
    const client = new RegistryClient({
      log,
      credentials: inputs.credential ? { [image.registry]: inputs.credential } : undefined,
    });
    const { attestImage } = await import('@anew/core/provenance');
    const result = await attestImage(
      client,
      {
        image,
        signing,
        run: runContextFromEnv(),
        inputsDigest: inputs.inputsDigest ?? recorded.inputsDigest,
        baseDigest: inputs.baseDigest ?? recorded.baseDigest,
        reused: recorded.reused && { invocationId: recorded.reused.builtBy },
        startedOn: recorded.startedOn ?? inputs.startedOn,
        finishedOn: recorded.finishedOn,
        push: inputs.push,
      },
      log,
    );
    fs.mkdirSync(jobDir, { recursive: true });
    const bundlePath = path.join(
      jobDir,
      `attestation-${image.digest.slice(image.digest.indexOf(':') + 1)}.sigstore.json`,
    );
    fs.writeFileSync(bundlePath, result.bundle);
    let githubId: string | undefined;
    // Also when the registry had it already: a re-run after GitHub refused must still store it there.
    if (inputs.githubAttestation) {
      const { storeGithubAttestation } = await import('./github-attestation.ts');
      githubId = await log.group('GitHub attestation', () =>
        // Only the input asks for this write, so a refusal fails the step.
        storeGithubAttestation(JSON.parse(result.bundle.toString('utf8')), inputs.githubToken!, log, {
          explicit: true,
        }),
      );
    }
    const top = result.manifests[0]!;
    summary.title = `anew/attest: ${image.name}@${shortDigest(image.digest)}`;
    summary
      .row('Image', image.toString())
      .row(
        'Signed',
        signing.kind === 'key' ? `with key ${inputs.signingKey!.hint.slice(0, 16)}…` : 'keyless (Sigstore)',
      )
      .row('Builder', result.statement.predicate?.runDetails?.builder?.id)
      .row('Reused, built by', recorded.reused && (recorded.reused.builtBy ?? 'unknown'))
      .row('Attestation', top.attestationDigest)
      .row('GitHub attestation', githubId);
    for (const m of result.manifests.slice(1))
      summary.row(`Platform ${m.platform ?? m.digest}`, m.attestationDigest);
    if (!result.signed)
      summary.note('Every manifest already had an attestation from this builder: none was added.');
    return { 'attestation-digest': top.attestationDigest, 'bundle-path': bundlePath };
  },
};

export default action;
