import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import { parseBundle } from './bundle.ts';
import { loadPublicKey } from './keys.ts';
import { checkAttestation, checkPolicy, type SignerIdentity, type VerifyPolicy } from './policy.ts';
import { AttestationRefused } from './refusal.ts';
import type { Statement } from './statement.ts';
import { listAttestations, manifestsToAttest } from './storage.ts';
import { keylessTrust, publicGoodTrustedRoot, publicKeyTrust, readTrustedRoot } from './trust.ts';
import { type BundleTrust, verifyBundle } from './verify-bundle.ts';

export interface VerifiedManifest {
  digest: Digest;
  platform?: string;
  /** The attestation manifest that satisfied the policy. */
  attestation: Digest;
  signer: SignerIdentity;
}

export interface VerifyResult {
  digest: Digest;
  /** The verified statement about the image itself (for an index: about the index). */
  statement: Statement;
  manifests: VerifiedManifest[];
}

/** Builds the trust a policy asks for: its public key, its trusted root file, or the public-good instance. */
export async function trustFor(policy: VerifyPolicy, log: Logger, cacheDir?: string): Promise<BundleTrust> {
  if (policy.publicKey) {
    const publicKey = loadPublicKey(policy.publicKey, 'public-key');
    return { kind: 'key', publicKey, trust: publicKeyTrust(publicKey) };
  }
  const root = policy.trustedRoot
    ? readTrustedRoot(policy.trustedRoot)
    : await publicGoodTrustedRoot(log, cacheDir);
  return { kind: 'keyless', trust: keylessTrust(root) };
}

/**
 * The policy gate that verify, deploy and promote share. Passes when the
 * image (and, for an index, every platform manifest) carries at least one
 * attestation that satisfies the whole policy; otherwise throws a UserError
 * that says, for each attestation found, why it did not count.
 */
export async function verifyImage(
  client: RegistryClient,
  image: Reference & { digest: Digest },
  policy: VerifyPolicy,
  log: Logger,
  opts: { cacheDir?: string } = {},
): Promise<VerifyResult> {
  checkPolicy(policy);
  const trust = await trustFor(policy, log, opts.cacheDir);
  const targets = await manifestsToAttest(client, image);
  const manifests: VerifiedManifest[] = [];
  let statement: Statement | undefined;
  for (const t of targets) {
    const digest = t.descriptor.digest;
    const what = t.platform ? `platform ${t.platform} (${digest}) of ${image}` : `${image}`;
    const ok = await log.group(`Attestations of ${t.platform ?? image.toString()}`, async () => {
      const found = await listAttestations(client, image.repo, digest, policy.predicateType, log);
      if (found.length === 0) {
        throw new UserError(
          `${what} has no attestation of predicate type ${policy.predicateType}`,
          t.platform
            ? 'Attest the whole index (anew/attest attests every platform of it), not a single platform'
            : 'Run anew/attest on this digest first',
        );
      }
      const reasons: string[] = [];
      for (const a of found) {
        try {
          const v = verifyBundle(parseBundle(a.bundle), trust);
          checkAttestation(v.statement, v.signer, digest, policy);
          log.info(`${a.digest}: satisfies the policy (signed by ${v.signer.subject})`);
          return { attestation: a.digest, ...v };
        } catch (e) {
          if (!(e instanceof AttestationRefused)) throw e;
          reasons.push(`${a.digest}: ${e.message}`);
          log.warning(`attestation ${a.digest} of ${digest} refused: ${e.message}`);
        }
      }
      throw new UserError(
        `no attestation of ${what} satisfies the policy (${found.length} found): ${reasons.join('; ')}`,
      );
    });
    if (statement === undefined) statement = ok.statement;
    manifests.push({ digest, platform: t.platform, attestation: ok.attestation, signer: ok.signer });
  }
  return { digest: image.digest, statement: statement!, manifests };
}
