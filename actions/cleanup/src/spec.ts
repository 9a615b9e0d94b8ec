import {
  type ActionSpec,
  appInputs,
  dryRunInput,
  githubTokenInput,
  settingGroup,
  settingInputs,
} from '@anew/action';

export const spec = {
  name: 'cleanup',
  description: 'Retire old targets and pull-request previews.',
  inputs: {
    environment: {
      description: 'Environment to clean up (e.g. pr-42 when its pull request closes).',
      required: true,
      group: 'Environment',
      max: 63,
    },
    all: {
      description: 'Retire every target of the environment and its route (pull-request previews).',
      default: 'false',
      boolean: true,
      group: 'Environment',
    },
    ...appInputs,
    ...settingInputs('cleanup', settingGroup),
    ...dryRunInput,
    ...githubTokenInput,
  },
  outputs: {
    removed: { description: 'Targets removed, one per line.' },
  },
} as const satisfies ActionSpec;
