import {
  type ActionSpec,
  appInputs,
  dryRunInput,
  githubTokenInput,
  settingGroup,
  settingInputs,
} from '@anew/action';

export const spec = {
  name: 'rollback',
  description: 'Move traffic back to the previous target, kept warm.',
  inputs: {
    environment: { description: 'Environment to roll back.', required: true, group: 'Environment', max: 63 },
    to: {
      description: 'Release id, target or digest to return to; default: the previous release, kept warm.',
      group: 'Environment',
      max: 100,
    },
    ...appInputs,
    ...settingInputs('rollback', settingGroup),
    ...dryRunInput,
    ...githubTokenInput,
  },
  outputs: {
    release: { description: 'Release id now live.' },
    target: { description: 'Target now serving.' },
  },
} as const satisfies ActionSpec;
