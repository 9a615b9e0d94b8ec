import { type ActionSpec, appInputs, dryRunInput, settingGroup, settingInputs } from '@anew/action';

export const spec = {
  name: 'flip',
  description: "Move an environment's traffic to a new target (blue-green or canary).",
  inputs: {
    environment: {
      description: 'Environment whose traffic moves.',
      required: true,
      group: 'Environment',
      max: 63,
    },
    target: {
      description: 'Target to move traffic to: the "target" output of deploy.',
      required: true,
      group: 'Environment',
      max: 255,
    },
    ...appInputs,
    ...settingInputs('flip', settingGroup),
    ...dryRunInput,
  },
  outputs: {
    release: { description: 'Release id now live.' },
    'previous-target': { description: 'Target that served before, kept warm for rollback.' },
  },
} as const satisfies ActionSpec;
