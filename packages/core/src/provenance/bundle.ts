import {
  assertBundle,
  BUNDLE_V03_MEDIA_TYPE,
  type Bundle,
  bundleFromJSON,
  type SerializedBundle,
} from '@sigstore/bundle';
import { Bundle as ProtoBundle } from '@sigstore/protobuf-specs';
import { IN_TOTO_PAYLOAD_TYPE } from './dsse.ts';
import { AttestationRefused } from './refusal.ts';
import { STATEMENT_TYPE, type Statement } from './statement.ts';

/** The Sigstore bundle v0.3 media type: the artifactType and layer type of stored attestations. */
export const BUNDLE_MEDIA_TYPE = BUNDLE_V03_MEDIA_TYPE;
/** The annotation cosign and GitHub put on the attestation manifest, so readers can filter before fetching. */
export const PREDICATE_TYPE_ANNOTATION = 'dev.sigstore.bundle.predicateType';

export type { Bundle, SerializedBundle };

/** Parses and checks the shape of a stored bundle; anything malformed is refused with why. */
export function parseBundle(bytes: Buffer | string): Bundle {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString());
  } catch {
    throw new AttestationRefused('the attestation is not JSON');
  }
  // Read without the shape check first: it refuses several signatures too, but only as "invalid bundle".
  let raw: ReturnType<typeof ProtoBundle.fromJSON>;
  try {
    raw = ProtoBundle.fromJSON(json);
  } catch (e) {
    throw new AttestationRefused(`the attestation is not a valid Sigstore bundle: ${(e as Error).message}`);
  }
  if (raw.content?.$case === 'dsseEnvelope' && raw.content.dsseEnvelope.signatures.length !== 1) {
    const n = raw.content.dsseEnvelope.signatures.length;
    throw new AttestationRefused(`its DSSE envelope has ${n} signatures; exactly one is required`);
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
    assertBundle(bundle);
  } catch (e) {
    const fields = (e as { fields?: string[] }).fields;
    const detail = fields?.length ? ` (${fields.join(', ')})` : '';
    throw new AttestationRefused(
      `the attestation is not a valid Sigstore bundle: ${(e as Error).message}${detail}`,
    );
  }
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw new AttestationRefused('the bundle carries a message signature, not a DSSE envelope');
  }
  return bundle;
}

/** The statement inside a bundle's envelope (not yet trusted: verify the signature first). */
export function statementOf(bundle: Bundle): Statement {
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new AttestationRefused('the bundle has no DSSE envelope');
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new AttestationRefused(
      `the envelope's payload type is "${env.payloadType}", not ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
  let statement: Statement;
  try {
    statement = JSON.parse(env.payload.toString('utf8')) as Statement;
  } catch {
    throw new AttestationRefused('the envelope payload is not JSON');
  }
  if (statement?._type !== STATEMENT_TYPE || !Array.isArray(statement.subject)) {
    throw new AttestationRefused(`the payload is not an in-toto Statement v1 (_type ${statement?._type})`);
  }
  return statement;
}
