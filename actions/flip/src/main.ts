import { type ActionDefinition, input } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import type { SettingKey, Settings } from '@anew/core/config';
import { flip, infraFor } from '@anew/core/release';

interface Inputs {
  environment: string;
  target: string;
  app: string;
  settings: Settings;
  given: ReadonlySet<SettingKey>;
  'dry-run': boolean;
}

const action: ActionDefinition<Inputs> = {
  name: 'flip',
  readInputs() {
    const { environment, app, settings, given } = readEnvironment([
      'docker-host',
      'router',
      'router-url',
      'hosts',
      'listen',
      'strategy',
      'steps',
      'interval',
      'max-error-rate',
    ]);
    input.secret('github-token');
    return {
      environment,
      target: input.required('target'),
      app,
      settings,
      given,
      'dry-run': input.bool('dry-run', false),
    };
  },
  async main(inputs, { log, summary }) {
    const infra = infraFor(inputs.settings, log);
    const result = await flip(infra, {
      app: inputs.app,
      environment: inputs.environment,
      to: inputs.target,
      settings: inputs.settings,
      given: inputs.given,
      dryRun: inputs['dry-run'],
    });
    summary.title = result.dryRun
      ? 'anew/flip: plan (dry run)'
      : `anew/flip: ${inputs.app}/${inputs.environment}`;
    summary
      .row('Release now live', result.release)
      .row('Target', result.target)
      .row('Previous target (warm)', result.previousTarget)
      .row('Strategy', inputs.settings.strategy)
      .row('Served on', `${result.listen} ${result.hosts.join(', ')}`.trim());
    return {
      release: result.dryRun ? undefined : result.release,
      'previous-target': result.previousTarget,
    };
  },
};

export default action;
