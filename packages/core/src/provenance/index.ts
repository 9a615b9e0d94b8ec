export { type AttestedManifest, type AttestOptions, type AttestResult, attestImage } from './attest.ts';
export {
  BUNDLE_MEDIA_TYPE,
  type Bundle,
  PREDICATE_TYPE_ANNOTATION,
  parseBundle,
  type SerializedBundle,
  statementOf,
} from './bundle.ts';
export { IN_TOTO_PAYLOAD_TYPE, preAuthEncoding, type SerializedEnvelope } from './dsse.ts';
export { keyHint, loadPublicKey, loadSigningKey, type SigningKey } from './keys.ts';
export {
  checkAttestation,
  checkPolicy,
  defaultPolicy,
  GITHUB_ACTIONS_ISSUER,
  globToRegExp,
  type SignerIdentity,
  sameRepository,
  type VerifyPolicy,
} from './policy.ts';
export { AttestationRefused } from './refusal.ts';
export {
  DEFAULT_FULCIO_URL,
  DEFAULT_REKOR_URL,
  decodeTokenClaims,
  type SigningMethod,
  signStatement,
} from './sign.ts';
export {
  BUILD_TYPE,
  buildProvenanceStatement,
  SLSA_PROVENANCE_V1,
  type SlsaProvenance,
  type Statement,
} from './statement.ts';
export {
  attestationManifest,
  listAttestations,
  type StoredAttestation,
  storeAttestation,
} from './storage.ts';
export { keylessTrust, publicKeyTrust, readTrustedRoot } from './trust.ts';
export { trustFor, type VerifiedManifest, type VerifyResult, verifyImage } from './verify.ts';
export { type BundleTrust, type VerifiedBundle, verifyBundle } from './verify-bundle.ts';
