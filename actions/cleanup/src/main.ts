import type { ActionDefinition, InputReader } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import type { Settings } from '@anew/core/config';
import { prune, retireEnvironment, withInfra } from '@anew/core/release';
import type { Target } from '@anew/core/targets';
import { spec } from './spec.ts';

interface Inputs {
  environment: string;
  app: string;
  settings: Settings;
  all: boolean;
  dryRun: boolean;
}

function parse(r: InputReader): Inputs {
  const { environment, app, settings } = readEnvironment(r, 'cleanup');
  return { environment, app, settings, all: r.bool('all'), dryRun: r.bool('dry-run') };
}

const action: ActionDefinition<Inputs, { removed: string[] }> = {
  ...spec,
  parse,
  async main(inputs, { log, summary }) {
    return withInfra(inputs.settings, log, async (infra) => {
      const request = { app: inputs.app, environment: inputs.environment, dryRun: inputs.dryRun };
      let removed: Target[];
      if (inputs.all) {
        const res = await retireEnvironment(infra, request);
        removed = res.removed;
        summary.row('Route removed', res.route ? 'yes' : 'there was none');
      } else {
        removed = await prune(infra, { ...request, keep: inputs.settings.keep });
        summary.row('Kept warm', `${inputs.settings.keep} previous release(s) besides the live one`);
      }
      summary.title = `anew/cleanup: ${inputs.app}/${inputs.environment}${inputs.dryRun ? ' (dry run)' : ''}`;
      summary.row('Targets removed', removed.length);
      return { removed: removed.map((t) => `${t.name}@${t.engine}`) };
    });
  },
};

export default action;
