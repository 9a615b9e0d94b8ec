import { isUserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { VerifyPolicy } from '../provenance/policy.ts';
import type { Digest, Reference } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';

/** Whether an image found under the cache tag may be reused, and which run built it when that is known. */
export type CacheTrust = { trusted: true; builtBy?: string } | { trusted: false; reason: string };

/**
 * Checks an image found under `anew-inputs-<hex>` against the build's cache
 * policy: it counts only when verifyImage (the one verifier verify, deploy and
 * promote use) accepts its provenance and that provenance records the same
 * inputs-digest. Anyone who can push a tag can plant an image under the cache
 * tag; only the policy's signer can make provenance that passes here.
 */
export async function trustCachedImage(
  client: RegistryClient,
  image: Reference & { digest: Digest },
  inputs: Digest,
  policy: VerifyPolicy,
  log: Logger,
): Promise<CacheTrust> {
  // Loaded here, not at start-up: Sigstore is needed only when a policy meets a hit.
  const { verifyImage } = await import('../provenance/verify.ts');
  let statement: Awaited<ReturnType<typeof verifyImage>>['statement'];
  try {
    ({ statement } = await verifyImage(client, image, policy, log));
  } catch (e) {
    if (isUserError(e)) return { trusted: false, reason: e.message };
    throw e;
  }
  const anew = statement.predicate?.buildDefinition?.internalParameters?.anew ?? {};
  if (anew.inputsDigest !== inputs) {
    return {
      trusted: false,
      reason: `its verified provenance records inputs-digest ${anew.inputsDigest ?? '(none)'}, not ${inputs}`,
    };
  }
  // Provenance of a reuse names the run that built the image, if it knew; else the run that made it built it.
  const builtBy = anew.reused
    ? stringOrUndefined(anew.reused.invocationId)
    : stringOrUndefined(statement.predicate?.runDetails?.metadata?.invocationId);
  return { trusted: true, builtBy };
}

/**
 * Reads the cache policy's trusted root before the build reads or writes
 * anything. At a hit any refusal means "rebuild", so a file that is not a
 * trusted root would only ever look like an untrusted image: it is the
 * user's mistake, and fails the step here instead.
 */
export async function checkCachePolicy(policy: VerifyPolicy, input = 'cache-trusted-root'): Promise<void> {
  if (policy.trustedRoot === undefined) return;
  // Loaded here, not at start-up, as trustCachedImage loads the verifier.
  const { readTrustedRoot } = await import('../provenance/trust.ts');
  readTrustedRoot(policy.trustedRoot, input);
}

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
