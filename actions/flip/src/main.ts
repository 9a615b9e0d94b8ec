import type { ActionDefinition, InputReader } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import { commentLive, githubRecords } from '@anew/action/github';
import { checkDockerName, type SettingKey, type Settings } from '@anew/core/config';
import { environmentUrl, flip, listTargets, withInfra } from '@anew/core/release';
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
  githubToken: string | undefined;
}

export type FlipOutputs = {
  release: string | undefined;
  'previous-target': string | undefined;
  url: string | undefined;
};

/** Every input but the target (ship reads these before deploy has started the target). */
export function parseRest(r: InputReader): Omit<FlipInputs, 'target'> {
  const { environment, app, settings, given } = readEnvironment(r, 'flip');
  return {
    environment,
    app,
    settings,
    given,
    dryRun: r.bool('dry-run'),
    githubToken: r.secret('github-token'),
  };
}

export function parse(r: InputReader): FlipInputs {
  return { target: checkDockerName(r.required('target'), r.name('target')), ...parseRest(r) };
}

const action: ActionDefinition<FlipInputs, FlipOutputs> = {
  ...spec,
  parse,
  async main(inputs, { log, summary }) {
    return withInfra(inputs.settings, log, async (infra) => {
      const records = inputs.dryRun ? undefined : githubRecords(inputs.githubToken, log);
      const { app, environment } = inputs;
      const result = await flip(infra, {
        app,
        environment,
        to: inputs.target,
        settings: inputs.settings,
        given: inputs.given,
        dryRun: inputs.dryRun,
      }).catch(async (e: unknown) => {
        // The release that did not go live, found by its target's labels (GitHub records it as failed).
        const t = records
          ? (await listTargets(infra, { app, environment }).catch(() => [])).find(
              (x) => x.name === inputs.target,
            )
          : undefined;
        if (t)
          await records?.failed(
            {
              app,
              environment,
              release: t.meta.release,
              digest: t.meta.digest,
              target: t.name,
              commit: t.meta.commit,
            },
            'the flip failed; see the run log',
          );
        throw e;
      });
      // Where users reach it: the route's listen address and hosts, which the flip followed.
      const url = environmentUrl(
        { url: inputs.settings.url, hosts: result.hosts, listen: result.listen },
        infra.router,
      );
      if (records) {
        const rec = {
          app,
          environment,
          release: result.release,
          digest: result.digest,
          target: result.target,
          commit: result.commit,
        };
        await records.live({ ...rec, url });
        await commentLive(
          records,
          {
            app,
            environment,
            url,
            digest: result.digest,
            commit: result.commit,
            provenance: result.provenance,
          },
          log,
        );
        for (const n of records.notes) summary.note(n);
      }
      summary.title = result.dryRun
        ? 'anew/flip: plan (dry run)'
        : `anew/flip: ${inputs.app}/${inputs.environment}`;
      summary
        .row('Release now live', result.release)
        .row('Target', result.target)
        .row('Previous target (warm)', result.previousTarget)
        .row('Strategy', inputs.settings.strategy)
        .row('Served on', `${result.listen} ${result.hosts.join(', ')}`.trim())
        .row('URL', url);
      return {
        release: result.dryRun ? undefined : result.release,
        'previous-target': result.previousTarget,
        url,
      };
    });
  },
};

export default action;
