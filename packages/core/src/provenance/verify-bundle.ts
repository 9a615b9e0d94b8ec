import crypto, { type KeyObject } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { type TrustMaterial, toSignedEntity, Verifier } from '@sigstore/verify';
import { type Bundle, statementOf } from './bundle.ts';
import { preAuthEncoding } from './dsse.ts';
import { keyHint } from './keys.ts';
import { FULCIO_OID, type SignerIdentity } from './policy.ts';
import { AttestationRefused } from './refusal.ts';
import type { Statement } from './statement.ts';

/** How a bundle's signature is to be trusted: a public key, or a Sigstore trust root. */
export type BundleTrust =
  | { kind: 'key'; publicKey: KeyObject; trust: TrustMaterial }
  | { kind: 'keyless'; trust: TrustMaterial };

export interface VerifiedBundle {
  statement: Statement;
  signer: SignerIdentity;
}

const FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';

/**
 * Checks the signature of a bundle and returns the statement it signs and who
 * signed it. Our own checks come first so that each failure has its own
 * message (one signature, the key, an edited payload); then @sigstore/verify
 * checks the whole (certificate chain to the trust root, transparency-log
 * entry inside the certificate's validity, signed certificate timestamps).
 */
export function verifyBundle(bundle: Bundle, how: BundleTrust): VerifiedBundle {
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new AttestationRefused('the bundle has no DSSE envelope');
  const env = bundle.content.dsseEnvelope;
  // @sigstore/verify checks only the first signature; a second one could claim anything.
  if (env.signatures.length !== 1) {
    throw new AttestationRefused(
      `its DSSE envelope has ${env.signatures.length} signatures; exactly one is required`,
    );
  }
  const pae = preAuthEncoding(env.payloadType, env.payload);
  const sig = env.signatures[0]!.sig;
  const material = bundle.verificationMaterial.content;
  let signer: SignerIdentity;
  if (how.kind === 'key') {
    if (material.$case !== 'publicKey') {
      throw new AttestationRefused(
        'it is signed keyless (with a certificate), but the policy requires public-key',
      );
    }
    const wanted = keyHint(how.publicKey);
    if (!crypto.verify('sha256', pae, how.publicKey, sig)) {
      throw new AttestationRefused(
        material.publicKey.hint && material.publicKey.hint !== wanted
          ? `it is signed by another key (hint ${material.publicKey.hint}), not public-key (hint ${wanted})`
          : 'its signature does not match its payload: the attestation was changed after signing',
      );
    }
    signer = { kind: 'key', subject: `key:${wanted}`, extensions: {} };
  } else {
    if (material.$case === 'publicKey') {
      throw new AttestationRefused(
        `it is signed with a key (hint ${material.publicKey.hint}); set public-key to accept key-signed attestations`,
      );
    }
    const der =
      material.$case === 'certificate'
        ? material.certificate.rawBytes
        : material.x509CertificateChain.certificates[0]?.rawBytes;
    if (!der) throw new AttestationRefused('its verification material has no certificate');
    const cert = X509Certificate.parse(Buffer.from(der));
    if (
      !crypto.verify(
        'sha256',
        pae,
        crypto.createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' }),
        sig,
      )
    ) {
      throw new AttestationRefused(
        'its signature does not match its payload: the attestation was changed after signing',
      );
    }
    signer = certificateIdentity(cert);
  }
  try {
    const verifier =
      how.kind === 'key'
        ? new Verifier(how.trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 })
        : // Signed certificate timestamps are required wherever the root lists CT logs (the public-good
          // instance does); a private instance without a CT log has none to give.
          new Verifier(how.trust, {
            tlogThreshold: 1,
            ctlogThreshold: how.trust.ctlogs.length > 0 ? 1 : 0,
            timestampThreshold: 1,
          });
    verifier.verify(toSignedEntity(bundle));
  } catch (e) {
    throw new AttestationRefused(`its signature does not verify: ${(e as Error).message}`);
  }
  return { statement: statementOf(bundle), signer };
}

function extensionText(cert: X509Certificate, oid: string): string | undefined {
  const ext = cert.extension(oid);
  if (!ext) return undefined;
  // New-style Fulcio extensions are DER UTF8String; the legacy ones raw bytes.
  const inner = ext.valueObj.subs?.[0];
  return (inner ? inner.value : ext.value).toString('utf8');
}

/** The signer as the Fulcio certificate names it. */
export function certificateIdentity(cert: X509Certificate): SignerIdentity {
  const extensions: Record<string, string> = {};
  for (const oid of Object.values(FULCIO_OID)) {
    const v = extensionText(cert, oid);
    if (v !== undefined) extensions[oid] = v;
  }
  return {
    kind: 'keyless',
    subject: cert.subjectAltName ?? '',
    issuer:
      extensionText(cert, FULCIO_ISSUER_V2) ?? cert.extension(FULCIO_ISSUER_V1)?.value.toString('ascii'),
    extensions,
  };
}
