import crypto from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import type { RunContext } from '../github/index.ts';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import { parseBundle, statementOf } from './bundle.ts';
import { preAuthEncoding } from './dsse.ts';
import { decodeTokenClaims, type SigningMethod, signStatement } from './sign.ts';
import { buildProvenanceStatement, type Statement } from './statement.ts';
import { listAttestations, manifestsToAttest, storeAttestation } from './storage.ts';
import { certificateIdentity } from './verify-bundle.ts';

export interface AttestOptions {
  image: Reference & { digest: Digest };
  signing: SigningMethod;
  run: RunContext;
  inputsDigest?: Digest;
  baseDigest?: Digest;
  /** The build reused a cached image (see ProvenanceOptions.reused): the provenance must not claim this run built it. */
  reused?: { invocationId?: string };
  startedOn?: Date;
  /** When the build finished; default: when the statement is made. */
  finishedOn?: Date;
  /** Attach to the image in the registry; without it, only sign (the bundle is the result). */
  push: boolean;
}

export interface AttestedManifest {
  digest: Digest;
  /** linux/amd64 for a platform manifest of an index; undefined for the image (or index) itself. */
  platform?: string;
  attestationDigest?: Digest;
  /** An equivalent attestation was already there; none was added. */
  reused: boolean;
}

export interface AttestResult {
  /** The bundle (JSON) signed in this run, or the existing one when every manifest already had one. */
  bundle: Buffer;
  /** False when every manifest already had an equivalent attestation. */
  signed: boolean;
  statement: Statement;
  manifests: AttestedManifest[];
}

/**
 * Records signed SLSA provenance for an image and attaches it: one statement
 * naming the image and, for an index, each platform manifest, signed once and
 * attached to each of them. Idempotent: a manifest that already carries a
 * valid attestation by the same builder, of the same predicate, is left as is
 * (registries cap the referrers of a subject, and re-runs are common).
 */
export async function attestImage(
  client: RegistryClient,
  o: AttestOptions,
  log: Logger,
): Promise<AttestResult> {
  const targets = await log.group('Image', async () => {
    const t = await manifestsToAttest(client, o.image);
    for (const m of t) log.info(`${m.platform ?? 'image'}: ${m.descriptor.digest}`);
    return t;
  });
  const jobWorkflowRef =
    o.signing.kind === 'keyless'
      ? stringClaim(decodeTokenClaims(o.signing.token), 'job_workflow_ref')
      : undefined;
  const statementFor = (finishedOn: Date) =>
    buildProvenanceStatement({
      subjects: targets.map((t) => ({ name: o.image.name, digest: t.descriptor.digest })),
      run: o.run,
      jobWorkflowRef,
      inputsDigest: o.inputsDigest,
      baseDigest: o.baseDigest,
      reused: o.reused,
      startedOn: o.startedOn,
      finishedOn: o.finishedOn ?? finishedOn,
    });
  const draft = statementFor(new Date());
  const builderId = draft.predicate.runDetails.builder.id;

  const existing = new Map<Digest, { digest: Digest; bundle: Buffer }>();
  if (o.push) {
    await log.group('Existing attestations', async () => {
      for (const t of targets) {
        const found = await listAttestations(
          client,
          o.image.repo,
          t.descriptor.digest,
          draft.predicateType,
          log,
        );
        const same = found.find((a) =>
          isEquivalent(a.bundle, t.descriptor.digest, draft.predicateType, builderId, o.signing, log),
        );
        if (same) {
          existing.set(t.descriptor.digest, same);
          log.info(`${t.descriptor.digest} already has ${same.digest} from ${builderId}; not adding another`);
        }
      }
      if (existing.size === 0) log.info('none from this builder');
    });
  }
  const missing = targets.filter((t) => !existing.has(t.descriptor.digest));
  const reusedOnly = (): AttestedManifest[] =>
    targets.map((t) => ({
      digest: t.descriptor.digest,
      platform: t.platform,
      attestationDigest: existing.get(t.descriptor.digest)?.digest,
      reused: true,
    }));
  if (missing.length === 0) {
    const first = existing.get(targets[0]!.descriptor.digest)!;
    return {
      bundle: first.bundle,
      signed: false,
      statement: statementOf(parseBundle(first.bundle)),
      manifests: reusedOnly(),
    };
  }

  const statement = statementFor(new Date());
  const signed = await log.group('Sign', async () => {
    log.info(
      o.signing.kind === 'key'
        ? `Signing with the key ${o.signing.key.hint.slice(0, 16)}… (offline, no transparency log)`
        : `Signing keyless: certificate from ${o.signing.fulcioUrl}, entry in ${o.signing.rekorUrl}`,
    );
    return signStatement(statement, o.signing, log);
  });
  const bytes = Buffer.from(JSON.stringify(signed));
  const manifests: AttestedManifest[] = [];
  await log.group('Attach', async () => {
    const created = new Date();
    for (const t of targets) {
      const reuse = existing.get(t.descriptor.digest)?.digest;
      if (reuse || !o.push) {
        manifests.push({
          digest: t.descriptor.digest,
          platform: t.platform,
          attestationDigest: reuse,
          reused: !!reuse,
        });
        continue;
      }
      const digest = await storeAttestation(
        client,
        o.image.repo,
        bytes,
        t.descriptor,
        statement.predicateType,
        created,
      );
      log.info(`${t.platform ?? 'image'} ${t.descriptor.digest}: attestation ${digest}`);
      manifests.push({
        digest: t.descriptor.digest,
        platform: t.platform,
        attestationDigest: digest,
        reused: false,
      });
    }
  });
  return { bundle: bytes, signed: true, statement, manifests };
}

function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Whether a stored bundle already says what we would: same predicate, about
 * this digest, from this builder, and signed by the same signer (our key; or,
 * keyless, a certificate of the same OIDC issuer whose key made the
 * signature). This is a duplicate check, not a verification: verify does that.
 */
function isEquivalent(
  bytes: Buffer,
  digest: Digest,
  predicateType: string,
  builderId: string,
  signing: SigningMethod,
  log: Logger,
): boolean {
  try {
    const bundle = parseBundle(bytes);
    if (bundle.content.$case !== 'dsseEnvelope') return false;
    const env = bundle.content.dsseEnvelope;
    if (env.signatures.length !== 1) return false;
    const statement = statementOf(bundle);
    const [algo, hex] = digest.split(':') as [string, string];
    if (statement.predicateType !== predicateType) return false;
    if (!statement.subject.some((s) => s.digest?.[algo] === hex)) return false;
    if (statement.predicate?.runDetails?.builder?.id !== builderId) return false;
    const pae = preAuthEncoding(env.payloadType, env.payload);
    const sig = env.signatures[0]!.sig;
    const material = bundle.verificationMaterial.content;
    if (signing.kind === 'key') {
      return material.$case === 'publicKey' && crypto.verify('sha256', pae, signing.key.publicKey, sig);
    }
    if (material.$case !== 'certificate') return false;
    const cert = X509Certificate.parse(Buffer.from(material.certificate.rawBytes));
    const issuer = stringClaim(decodeTokenClaims(signing.token), 'iss');
    if (certificateIdentity(cert).issuer !== issuer) return false;
    return crypto.verify(
      'sha256',
      pae,
      crypto.createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' }),
      sig,
    );
  } catch (e) {
    log.debug(`attestImage: an existing attestation is not comparable: ${(e as Error).message}`);
    return false;
  }
}
