import crypto from 'node:crypto';
import { bundleToJSON, type SerializedBundle } from '@sigstore/bundle';
import {
  DSSEBundleBuilder,
  FulcioSigner,
  type IdentityProvider,
  RekorWitness,
  type Signer,
  type Witness,
} from '@sigstore/sign';
import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './dsse.ts';
import type { SigningKey } from './keys.ts';
import type { Statement } from './statement.ts';

export const DEFAULT_FULCIO_URL = 'https://fulcio.sigstore.dev';
export const DEFAULT_REKOR_URL = 'https://rekor.sigstore.dev';

/** How to sign: with a key the user holds, or keyless through Sigstore. */
export type SigningMethod =
  | { kind: 'key'; key: SigningKey }
  | {
      kind: 'keyless';
      /** The OIDC identity token (audience "sigstore") that Fulcio turns into a certificate. */
      token: string;
      fulcioUrl: string;
      rekorUrl: string;
    };

/** Signs with a local key; the bundle names the key by its hint, not the key itself. */
class KeySigner implements Signer {
  constructor(private readonly key: SigningKey) {}
  async sign(data: Buffer) {
    return {
      signature: crypto.sign('sha256', data, this.key.privateKey),
      key: {
        $case: 'publicKey' as const,
        publicKey: this.key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        hint: this.key.hint,
      },
    };
  }
}

/**
 * Signs the statement into a Sigstore bundle v0.3 whose DSSE envelope has
 * exactly one signature. Keyless: an ephemeral key, a Fulcio certificate for
 * the token's identity, and a Rekor entry (the proof the certificate was
 * valid when the signature was made). With a key: offline, no log entry.
 */
export async function signStatement(
  statement: Statement,
  method: SigningMethod,
  log: Logger,
): Promise<SerializedBundle> {
  let signer: Signer;
  const witnesses: Witness[] = [];
  if (method.kind === 'key') {
    signer = new KeySigner(method.key);
  } else {
    const identityProvider: IdentityProvider = { getToken: async () => method.token };
    signer = new FulcioSigner({
      identityProvider,
      fulcioBaseURL: method.fulcioUrl,
      timeout: 10_000,
      retry: 3,
    });
    witnesses.push(
      new RekorWitness({ rekorBaseURL: method.rekorUrl, fetchOnConflict: true, timeout: 10_000, retry: 3 }),
    );
  }
  const builder = new DSSEBundleBuilder({ signer, witnesses });
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  try {
    const bundle = await builder.create({ data: payload, type: IN_TOTO_PAYLOAD_TYPE });
    return bundleToJSON(bundle);
  } catch (e) {
    if (method.kind === 'key') throw e;
    const detail = describeSigstoreError(e);
    log.debug(`signStatement: ${detail}`);
    throw new UserError(
      `keyless signing through ${method.fulcioUrl} and ${method.rekorUrl} failed: ${detail}`,
      'Check that the job has `permissions: id-token: write` and that the Sigstore instance is reachable, or sign with signing-key',
      { cause: e },
    );
  }
}

function describeSigstoreError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
}

/** The claims of a JWT, unverified: Fulcio verifies the token; we only read names from it. */
export function decodeTokenClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (!part) throw new UserError('the OIDC token is not a JWT');
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new UserError('the OIDC token is not a JWT');
  }
}
