import { type ActionDefinition, input } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import type { Settings } from '@anew/core/config';
import { infraFor, prune, retireEnvironment } from '@anew/core/release';
import type { Target } from '@anew/core/targets';

interface Inputs {
  environment: string;
  app: string;
  settings: Settings;
  all: boolean;
  'dry-run': boolean;
}

const action: ActionDefinition<Inputs> = {
  name: 'cleanup',
  readInputs() {
    const { environment, app, settings } = readEnvironment([
      'keep',
      'target',
      'docker-host',
      'network',
      'router',
      'router-url',
      'hosts',
      'listen',
    ]);
    input.secret('github-token');
    return {
      environment,
      app,
      settings,
      all: input.bool('all', false),
      'dry-run': input.bool('dry-run', false),
    };
  },
  async main(inputs, { log, summary }) {
    const infra = infraFor(inputs.settings, log);
    const request = { app: inputs.app, environment: inputs.environment, dryRun: inputs['dry-run'] };
    let removed: Target[];
    if (inputs.all) {
      const res = await retireEnvironment(infra, request);
      removed = res.removed;
      summary.row('Route removed', res.route ? 'yes' : 'there was none');
    } else {
      removed = await prune(infra, { ...request, keep: inputs.settings.keep });
      summary.row('Kept warm', `${inputs.settings.keep} previous release(s) besides the live one`);
    }
    summary.title = `anew/cleanup: ${inputs.app}/${inputs.environment}${inputs['dry-run'] ? ' (dry run)' : ''}`;
    summary.row('Targets removed', removed.length);
    return { removed: removed.map((t) => `${t.name}@${t.engine}`).join('\n') };
  },
};

export default action;
