/**
 * DSSE (Dead Simple Signing Envelope), the envelope a Sigstore bundle carries
 * an in-toto statement in. https://github.com/secure-systems-lab/dsse
 */

/** The payload type of in-toto statements inside DSSE. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** The envelope as JSON carries it: payload and signatures base64-encoded. */
export interface SerializedEnvelope {
  payloadType: string;
  payload: string;
  signatures: { keyid?: string; sig: string }[];
}

/**
 * The pre-authentication encoding: what is actually signed, so that a
 * signature over one payload type cannot be replayed as another.
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
 * lengths in decimal bytes.
 */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}
