import { type ActionDefinition, input } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import type { SettingKey, Settings } from '@anew/core/config';
import { infraFor, rollback } from '@anew/core/release';

interface Inputs {
  environment: string;
  to: string | undefined;
  app: string;
  settings: Settings;
  given: ReadonlySet<SettingKey>;
  'dry-run': boolean;
}

const action: ActionDefinition<Inputs> = {
  name: 'rollback',
  readInputs() {
    const { environment, app, settings, given } = readEnvironment([
      'docker-host',
      'router',
      'router-url',
      'hosts',
      'listen',
    ]);
    input.secret('github-token');
    return {
      environment,
      to: input.optional('to'),
      app,
      settings,
      given,
      'dry-run': input.bool('dry-run', false),
    };
  },
  async main(inputs, { log, summary }) {
    const infra = infraFor(inputs.settings, log);
    const result = await rollback(infra, {
      app: inputs.app,
      environment: inputs.environment,
      to: inputs.to,
      settings: inputs.settings,
      given: inputs.given,
      dryRun: inputs['dry-run'],
    });
    summary.title = result.dryRun
      ? 'anew/rollback: plan (dry run)'
      : `anew/rollback: ${inputs.app}/${inputs.environment}`;
    summary
      .row('Release now live', result.release)
      .row('Target', result.target)
      .row('Rolled back from', result.previousRelease);
    return result.dryRun ? {} : { release: result.release, target: result.target };
  },
};

export default action;
