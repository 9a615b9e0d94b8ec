import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { type TrustMaterial, toTrustMaterial } from '@sigstore/verify';
import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';

/** What signatures are checked against: the Sigstore trust root (keyless) or the user's public key. */

/** The media types a Sigstore trusted root declares (the JSON of v0.1, and the v0.2 name). */
const TRUSTED_ROOT_MEDIA_TYPE =
  /^application\/vnd\.dev\.sigstore\.trustedroot(\+json;version=0\.\d+|\.v0\.\d+\+json)$/;

/**
 * A trusted root JSON file (a private Sigstore instance, GitHub's own, or a
 * test's), read and checked whole: the protobuf reader takes any JSON and
 * fills in empty lists, so a file that is not a trusted root is refused here
 * by its media type and its certificate authorities, not later as a
 * signature that "does not verify". `input` names the setting in messages.
 */
export function readTrustedRoot(file: string, input = 'trusted-root'): TrustedRoot {
  const hint = `Give ${input} the path of a Sigstore trusted_root.json (e.g. from \`gh attestation trusted-root\`)`;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${input} "${file}" cannot be read (${(e as NodeJS.ErrnoException).code})`, hint);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${input} "${file}" is not JSON: ${(e as Error).message}`, hint);
  }
  const obj =
    typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : {};
  const mediaType = obj['mediaType'];
  if (typeof mediaType !== 'string' || !TRUSTED_ROOT_MEDIA_TYPE.test(mediaType))
    throw new UserError(
      `${input} "${file}" is not a Sigstore trusted root: its mediaType is ${JSON.stringify(mediaType ?? null)?.slice(0, 100)}, not application/vnd.dev.sigstore.trustedroot+json`,
      hint,
    );
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(json);
    // Decodes every key and certificate, so a damaged one is found now.
    toTrustMaterial(root);
  } catch (e) {
    throw new UserError(
      `${input} "${file}" is not a valid Sigstore trusted root: ${(e as Error).message}`,
      hint,
    );
  }
  if (root.certificateAuthorities.length === 0)
    throw new UserError(
      `${input} "${file}" names no certificate authority, so no keyless signature could verify against it`,
      hint,
    );
  return root;
}

/**
 * The public-good instance's root, fetched and checked through TUF (its root
 * of trust ships in @sigstore/tuf). The TUF client loads only here: a key or a
 * trusted-root file never needs it.
 */
export async function publicGoodTrustedRoot(log: Logger, cacheDir = os.tmpdir()): Promise<TrustedRoot> {
  try {
    const { getTrustedRoot } = await import('@sigstore/tuf');
    return await getTrustedRoot({ cachePath: path.join(cacheDir, 'anew-sigstore-tuf') });
  } catch (e) {
    log.debug(`publicGoodTrustedRoot: ${(e as Error).stack}`);
    throw new UserError(
      `the Sigstore public-good trust root could not be fetched: ${(e as Error).message}`,
      'Check network access to tuf-repo-cdn.sigstore.dev, or pass trusted-root',
    );
  }
}

/** Trust for keyless bundles: certificate authorities, transparency logs, CT logs of the root. */
export function keylessTrust(root: TrustedRoot): TrustMaterial {
  return toTrustMaterial(root);
}

/** Trust for key-signed bundles: only the given key, whatever hint the bundle names it by. */
export function publicKeyTrust(key: KeyObject): TrustMaterial {
  const empty = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  });
  return toTrustMaterial(empty, () => ({ publicKey: key, validFor: () => true }));
}
