import crypto from 'node:crypto';
import { UserError } from '../errors/index.ts';

/**
 * Signing keys for key-signed attestations: PEM ECDSA P-256, the kind
 * `cosign generate-key-pair` and `openssl ecparam -name prime256v1` make.
 */

export interface SigningKey {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
  /** Names the key in the bundle (verificationMaterial.publicKey.hint). */
  hint: string;
}

/**
 * The hint is the hex SHA-256 of the DER public key: stable, derived from the
 * key alone, so a verifier holding the public key computes the same value.
 */
export function keyHint(publicKey: crypto.KeyObject): string {
  return crypto
    .createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function checkP256(key: crypto.KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const kind =
      key.asymmetricKeyType === 'ec'
        ? `an EC key on ${key.asymmetricKeyDetails?.namedCurve}`
        : `a ${key.asymmetricKeyType} key`;
    throw new UserError(
      `${what} is ${kind}, not ECDSA P-256`,
      'Generate one with `openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt`',
    );
  }
}

/** Reads a PEM private key; `password` decrypts an encrypted PKCS#8 key. */
export function loadSigningKey(pem: string, password?: string, what = 'signing key'): SigningKey {
  if (!pem.includes('-----BEGIN')) {
    throw new UserError(`${what} is not a PEM key`, 'Pass the whole PEM text, from -----BEGIN to -----END');
  }
  if (/-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----/.test(pem)) {
    throw new UserError(
      `${what} is a cosign-encrypted key, which this action cannot read`,
      'Export it as PEM PKCS#8: `cosign import-key-pair` takes PEM; or use openssl to make a PKCS#8 key',
    );
  }
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem);
  if (encrypted && !password) {
    throw new UserError(`${what} is encrypted and no password was given`, 'Set signing-key-password');
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(
      encrypted ? { key: pem, format: 'pem', passphrase: password } : { key: pem, format: 'pem' },
    );
  } catch (e) {
    // Node's message names neither the key nor the secret: safe to pass on.
    const reason = (e as Error).message;
    throw new UserError(
      encrypted ? `${what} could not be decrypted (${reason})` : `${what} could not be read (${reason})`,
      encrypted ? 'Check signing-key-password' : 'Pass a PEM ECDSA P-256 private key',
    );
  }
  checkP256(privateKey, what);
  const publicKey = crypto.createPublicKey(privateKey);
  return { privateKey, publicKey, hint: keyHint(publicKey) };
}

/** Reads a PEM public key (SPKI), as `verify` takes it. */
export function loadPublicKey(pem: string, what = 'public key'): crypto.KeyObject {
  // createPublicKey would also derive one from a private key: refuse it, it has no place in a verify policy.
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new UserError(`${what} is a private key`, 'Pass the public key only, and rotate the leaked key');
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new UserError(
      `${what} could not be read (${(e as Error).message})`,
      'Pass a PEM public key (-----BEGIN PUBLIC KEY-----)',
    );
  }
  checkP256(key, what);
  return key;
}
