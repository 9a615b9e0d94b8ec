/**
 * A reason an attestation does not count, said to the user as it is. Kept
 * apart from the Sigstore code, so the policy checks that every action with
 * policy inputs runs at start-up do not load Sigstore.
 */
export class AttestationRefused extends Error {
  override name = 'AttestationRefused';
}
