import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { type ActionDefinition, input } from '@anew/action';
import { UserError } from '@anew/core/errors';
import { runContextFromEnv } from '@anew/core/github';
import { attestImage, loadSigningKey, type SigningKey, type SigningMethod } from '@anew/core/provenance';
import { type Digest, parseDigest, type Reference, shortDigest } from '@anew/core/ref';
import { type Credential, RegistryClient } from '@anew/core/registry';
import { storeGithubAttestation } from './github-attestation.ts';

interface Inputs {
  image: Reference & { digest: Digest };
  /** Undefined: keyless. */
  signingKey?: SigningKey;
  fulcioUrl: string;
  rekorUrl: string;
  push: boolean;
  githubAttestation: boolean;
  inputsDigest?: Digest;
  baseDigest?: Digest;
  startedOn: Date;
  finishedOn?: Date;
  credential?: Credential;
  githubToken?: string;
}

function url(name: string): string {
  const v = input.required(name);
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error();
  } catch {
    throw new UserError(`input "${name}" is "${v}", not an http(s) URL`);
  }
  return v.replace(/\/+$/, '');
}

interface BuildRecord {
  inputsDigest?: Digest;
  baseDigest?: Digest;
  startedOn?: Date;
  finishedOn?: Date;
}

function time(value: unknown, what: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(String(value));
  if (Number.isNaN(d.getTime())) throw new UserError(`${what} is "${value}", not a time`);
  return d;
}

/** What build left for this digest in the job: $RUNNER_TEMP/anew/build-<hex>.json. */
function buildRecord(digest: Digest): BuildRecord {
  const file = path.join(
    process.env['RUNNER_TEMP'] || '/tmp',
    'anew',
    `build-${digest.slice(digest.indexOf(':') + 1)}.json`,
  );
  if (!fs.existsSync(file)) return {};
  let json: { inputsDigest?: string; baseDigest?: string; startedOn?: string; finishedOn?: string };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new UserError(
      `${file}, which build wrote for this digest, is not JSON`,
      'Run build again, or give inputs-digest and base-digest',
    );
  }
  return {
    inputsDigest: json.inputsDigest ? parseDigest(json.inputsDigest, `inputsDigest in ${file}`) : undefined,
    baseDigest: json.baseDigest ? parseDigest(json.baseDigest, `baseDigest in ${file}`) : undefined,
    startedOn: time(json.startedOn, `startedOn in ${file}`),
    finishedOn: time(json.finishedOn, `finishedOn in ${file}`),
  };
}

function readInputs(): Inputs {
  const image = input.pinnedImage('image');
  const pem = input.secret('signing-key');
  const password = input.secret('signing-key-password');
  if (password !== undefined && pem === undefined) {
    throw new UserError(
      'signing-key-password is set but signing-key is not',
      'Give the key too, or remove the password to sign keyless',
    );
  }
  const signingKey = pem === undefined ? undefined : loadSigningKey(pem, password, 'input "signing-key"');
  if (!signingKey && !process.env['ACTIONS_ID_TOKEN_REQUEST_URL']) {
    throw new UserError(
      "keyless signing needs the job's OIDC token, and this job has none",
      'Add `permissions: id-token: write` to the job, or sign with signing-key',
    );
  }
  const githubAttestation = input.bool('github-attestation', false);
  const githubToken = input.secret('github-token');
  if (githubAttestation && !githubToken) {
    throw new UserError(
      'github-attestation is true but github-token is empty',
      'Pass a token with `attestations: write`',
    );
  }
  const recorded = buildRecord(image.digest);
  input.str('config');
  return {
    image,
    signingKey,
    fulcioUrl: url('fulcio-url'),
    rekorUrl: url('rekor-url'),
    push: input.bool('push-to-registry', true),
    githubAttestation,
    inputsDigest: input.digest('inputs-digest') ?? recorded.inputsDigest,
    baseDigest: input.digest('base-digest') ?? recorded.baseDigest,
    // The build's own times when it recorded them; else this job's process start (the
    // runner starts one per step, so this is when attest started) and the signing time.
    startedOn: recorded.startedOn ?? new Date(Date.now() - process.uptime() * 1000),
    finishedOn: recorded.finishedOn,
    credential: input.credential('registry-username', 'registry-password'),
    githubToken,
  };
}

/** The job's OIDC token for Sigstore; its failures are the workflow's to fix. */
async function jobToken(): Promise<string> {
  try {
    return await core.getIDToken('sigstore');
  } catch (e) {
    throw new UserError(
      `the job's OIDC token could not be obtained: ${(e as Error).message}`,
      'Add `permissions: id-token: write` to the job, or sign with signing-key',
    );
  }
}

const action: ActionDefinition<Inputs> = {
  name: 'attest',
  readInputs,
  async main(inputs, { log, summary }) {
    const { image } = inputs;
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
    const result = await attestImage(
      client,
      {
        image,
        signing,
        run: runContextFromEnv(),
        inputsDigest: inputs.inputsDigest,
        baseDigest: inputs.baseDigest,
        startedOn: inputs.startedOn,
        finishedOn: inputs.finishedOn,
        push: inputs.push,
      },
      log,
    );
    const dir = path.join(process.env['RUNNER_TEMP'] || '/tmp', 'anew');
    fs.mkdirSync(dir, { recursive: true });
    const bundlePath = path.join(
      dir,
      `attestation-${image.digest.slice(image.digest.indexOf(':') + 1)}.sigstore.json`,
    );
    fs.writeFileSync(bundlePath, result.bundle);
    let githubId: string | undefined;
    // Also when the registry had it already: a re-run after GitHub refused must still store it there.
    if (inputs.githubAttestation) {
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
