import type { ActionDefinition, InputReader } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import { checkDockerName, type SettingKey, type Settings } from '@anew/core/config';
import { flip, withInfra } from '@anew/core/release';
import { spec } from './spec.ts';

export interface FlipInputs {
  environment: string;
  /** The target's name: deploy's "target" output. */
  target: string;
  app: string;
  settings: Settings;
  /** The settings an input or anew.yml gave: the rest follow the live route (its listen address and hosts). */
  given: ReadonlySet<SettingKey>;
  dryRun: boolean;
}

export type FlipOutputs = { release: string | undefined; 'previous-target': string | undefined };

/** Every input but the target (ship reads these before deploy has started the target). */
export function parseRest(r: InputReader): Omit<FlipInputs, 'target'> {
  const { environment, app, settings, given } = readEnvironment(r, 'flip');
  return { environment, app, settings, given, dryRun: r.bool('dry-run') };
}

export function parse(r: InputReader): FlipInputs {
  return { target: checkDockerName(r.required('target'), r.name('target')), ...parseRest(r) };
}

const action: ActionDefinition<FlipInputs, FlipOutputs> = {
  ...spec,
  parse,
  async main(inputs, { log, summary }) {
    return withInfra(inputs.settings, log, async (infra) => {
      const result = await flip(infra, {
        app: inputs.app,
        environment: inputs.environment,
        to: inputs.target,
        settings: inputs.settings,
        given: inputs.given,
        dryRun: inputs.dryRun,
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
    });
  },
};

export default action;
