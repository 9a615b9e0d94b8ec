import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { type TrustMaterial, toTrustMaterial } from '@sigstore/verify';
import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';

/** What signatures are checked against: the Sigstore trust root (keyless) or the user's public key. */

/** A trusted root JSON file (a private Sigstore instance, or a test's). */
export function readTrustedRoot(file: string): TrustedRoot {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `trusted root "${file}" cannot be read (${(e as NodeJS.ErrnoException).code})`,
      'Check trusted-root',
    );
  }
  try {
    return TrustedRoot.fromJSON(JSON.parse(text));
  } catch (e) {
    throw new UserError(
      `trusted root "${file}" is not a Sigstore trusted root JSON: ${(e as Error).message}`,
    );
  }
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
