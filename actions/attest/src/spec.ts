import { type ActionSpec, githubTokenInput, registryInputs } from '@anew/action';

export const spec = {
  name: 'attest',
  description: 'Record signed SLSA provenance for an image digest and attach it to the image.',
  inputs: {
    image: {
      description: 'Image to attest, pinned by digest (repository@sha256:…).',
      required: true,
      group: 'Image',
      max: 600,
    },
    'signing-key': {
      description:
        "PEM ECDSA P-256 private key to sign with. Without it: keyless Sigstore with the job's OIDC token (needs permissions id-token: write).",
      secret: true,
      multiline: true,
      env: 'ANEW_SIGNING_KEY',
      group: 'Signing',
    },
    'signing-key-password': {
      description: 'Password of an encrypted signing key.',
      secret: true,
      env: 'ANEW_SIGNING_KEY_PASSWORD',
      group: 'Signing',
    },
    'push-to-registry': {
      description: 'Attach the attestation to the image in the registry.',
      default: 'true',
      boolean: true,
      group: 'Attestation',
    },
    'github-attestation': {
      description: "Also store the attestation through GitHub's attestations API.",
      default: 'false',
      boolean: true,
      group: 'Attestation',
    },
    'inputs-digest': {
      description:
        "The build's inputs-digest, recorded in the provenance (default: what build left in this job).",
      group: 'Attestation',
      max: 100,
    },
    'base-digest': {
      description:
        'The base image digest, recorded as a resolved dependency (default: what build left in this job).',
      group: 'Attestation',
      max: 100,
    },
    'fulcio-url': {
      description: 'Fulcio instance for keyless signing.',
      default: 'https://fulcio.sigstore.dev',
      group: 'Signing',
    },
    'rekor-url': {
      description: 'Rekor instance for keyless signing.',
      default: 'https://rekor.sigstore.dev',
      group: 'Signing',
    },
    ...registryInputs,
    ...githubTokenInput,
  },
  outputs: {
    'attestation-digest': { description: 'Digest of the attestation manifest in the registry.' },
    'bundle-path': { description: 'Path of the Sigstore bundle written in this job.' },
  },
} as const satisfies ActionSpec;
