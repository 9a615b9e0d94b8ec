import {
  type ActionSpec,
  appInputs,
  dryRunInput,
  githubTokenInput,
  settingGroup,
  settingInputs,
} from '@anew/action';

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
    ...githubTokenInput,
  },
  outputs: {
    release: { description: 'Release id now live.' },
    'previous-target': { description: 'Target that served before, kept warm for rollback.' },
    url: {
      description:
        'Public address of the environment (the "url" setting, else https://<first host> when the router serves TLS for it, else http://<first host>[:<listen port>]), e.g. for the job\'s environment.url.',
    },
  },
} as const satisfies ActionSpec;
