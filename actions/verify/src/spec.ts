import { type ActionSpec, policyInputs, registryInputs } from '@anew/action';

export const spec = {
  name: 'verify',
  description: "Check an image's provenance against a policy.",
  inputs: {
    image: {
      description: 'Image to verify, pinned by digest (repository@sha256:…).',
      required: true,
      group: 'Image',
      max: 600,
    },
    ...policyInputs(
      'PEM public key the attestation must be signed with (key-signed attestations), inline or the path of a file. Without it, a Sigstore certificate is required.',
    ),
    'predicate-type': {
      description: 'Predicate type of the attestations to consider.',
      default: 'https://slsa.dev/provenance/v1',
      group: 'Provenance policy',
    },
    ...registryInputs,
  },
  outputs: {
    verified: { description: 'true when an attestation satisfied the whole policy.' },
    'predicate-path': { description: 'Path of the verified predicate (JSON).' },
  },
} as const satisfies ActionSpec;
