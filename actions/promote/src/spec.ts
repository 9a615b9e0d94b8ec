import { type ActionSpec, policyInputs, registryInputs } from '@anew/action';

export const spec = {
  name: 'promote',
  description: 'Copy an image, with its provenance, to another repository or registry by digest.',
  hidden: true,
  inputs: {
    image: {
      description: 'Image to promote, pinned by digest (repository@sha256:…).',
      required: true,
      group: 'Image',
      max: 600,
    },
    to: {
      description: 'Destination repository (e.g. ghcr.io/acme/web-prod or registry.example.com/web).',
      required: true,
      group: 'Image',
      max: 512,
    },
    tags: { description: 'Tags to set on the destination, one per line.', multiline: true, group: 'Image' },
    ...policyInputs(
      'PEM public key the attestation must be signed with (key-signed attestations). Without it, a Sigstore certificate is required.',
    ),
    ...registryInputs,
    'to-username': {
      description: 'User name for the destination registry (default: docker config).',
      group: 'Registry',
      max: 256,
    },
    'to-password': {
      description: 'Password or token for the destination registry; masked in logs.',
      secret: true,
      env: 'ANEW_TO_PASSWORD',
      group: 'Registry',
    },
  },
  outputs: {
    image: { description: 'Destination repository@digest.' },
    digest: { description: 'The digest (the same as the source).' },
  },
} as const satisfies ActionSpec;
