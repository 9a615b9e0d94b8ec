export { Authenticator, parseChallenge } from './auth.ts';
export {
  type Descriptor,
  fallbackTag,
  type Manifest,
  type Platform,
  RegistryClient,
  type RegistryClientOptions,
  registryScheme,
  sha256,
} from './client.ts';
export { type Credential, type CredentialMap, CredentialStore, dockerConfigPath } from './credentials.ts';
export { DigestMismatchError, RegistryError } from './errors.ts';
export { EMPTY_DESCRIPTOR, EMPTY_JSON, isIndex, MANIFEST_ACCEPT, MediaType } from './media-types.ts';
export type { StreamedUpload } from './upload.ts';
