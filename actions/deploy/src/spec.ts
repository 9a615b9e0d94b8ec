import {
  type ActionSpec,
  appInputs,
  dryRunInput,
  githubTokenInput,
  policyInputs,
  registryInputs,
  settingGroup,
  settingInputs,
} from '@anew/action';

export const spec = {
  name: 'deploy',
  // A release started by a cancelled job is removed unless it already takes traffic.
  postIf: 'cancelled()',
  description: 'Start a new target from an image digest and wait until it is healthy, without traffic.',
  inputs: {
    image: {
      description: 'Image to deploy, pinned by digest (repository@sha256:…); a tag alone is refused.',
      required: true,
      group: 'Image',
      max: 600,
    },
    environment: {
      description: 'Environment to deploy to (e.g. production, pr-42).',
      required: true,
      group: 'Environment',
      max: 63,
    },
    ...appInputs,
    ...settingInputs('deploy', settingGroup),
    ...policyInputs(
      'PEM public key the attestation must be signed with (key-signed attestations), inline or the path of a file. Without it, a Sigstore certificate is required.',
    ),
    'allow-fork': {
      description:
        "Deploy a fork's code from a pull_request_target or workflow_run event, which run with this repository's token and secrets. Refused unless true: review the change first (e.g. an environment with required reviewers).",
      default: 'false',
      boolean: true,
      group: 'GitHub',
    },
    ...dryRunInput,
    ...registryInputs,
    ...githubTokenInput,
  },
  outputs: {
    target: { description: 'Name of the new target (to pass to flip).' },
    url: { description: "The target's own address, for smoke tests before it takes traffic." },
    release: { description: 'Release id.' },
  },
} as const satisfies ActionSpec;
