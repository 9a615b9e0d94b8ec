import { type ActionSpec, policyInputs, registryInputs } from '@anew/action';

export const spec = {
  name: 'promote',
  description: 'Copy an image, with its provenance, to another repository or registry by digest.',
  inputs: {
    image: {
      description: 'Image to promote, pinned by digest (repository@sha256:…).',
      required: true,
      group: 'Image',
      max: 600,
    },
    to: {
      description:
        'Destination repository, without tag or digest (e.g. ghcr.io/acme/web-prod or registry.example.com/web).',
      required: true,
      group: 'Image',
      max: 512,
    },
    tags: {
      description: 'Tags to write at the destination, one per line, once everything they reach is there.',
      multiline: true,
      group: 'Image',
    },
    ...policyInputs(
      'PEM public key the attestation must be signed with (key-signed attestations), inline or the path of a file. Without it, a Sigstore certificate is required.',
    ),
    ...registryInputs,
    'to-registry-username': {
      description:
        'User name for the destination registry. Without it, credentials come from ~/.docker/config.json.',
      group: 'Registry',
      max: 256,
    },
    'to-registry-password': {
      description: 'Password or token for the destination registry; masked in logs.',
      secret: true,
      env: 'ANEW_TO_REGISTRY_PASSWORD',
      group: 'Registry',
    },
  },
  outputs: {
    image: { description: 'Destination repository@digest.' },
    digest: { description: 'The digest (the same as the source).' },
  },
} as const satisfies ActionSpec;
