import type { ActionDefinition, InputReader } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import { githubRecords, readEvent } from '@anew/action/github';
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
  githubToken: string | undefined;
}

function parse(r: InputReader): Inputs {
  const { environment, app, settings } = readEnvironment(r, 'cleanup');
  return {
    environment,
    app,
    settings,
    all: r.bool('all'),
    dryRun: r.bool('dry-run'),
    githubToken: r.secret('github-token'),
  };
}

const action: ActionDefinition<Inputs, { removed: string[] }> = {
  ...spec,
  parse,
  async main(inputs, { log, summary }) {
    return withInfra(inputs.settings, log, async (infra) => {
      const request = { app: inputs.app, environment: inputs.environment, dryRun: inputs.dryRun };
      let removed: Target[];
      let live: string | undefined;
      if (inputs.all) {
        const res = await retireEnvironment(infra, request);
        removed = res.removed;
        live = res.live;
        summary.row('Route removed', res.route ? 'yes' : 'there was none');
      } else {
        removed = await prune(infra, {
          ...request,
          keep: inputs.settings.keep,
          // A release younger than its health check may be a deploy still running in another job.
          youngerThan: inputs.settings['health-timeout'],
        });
        summary.row('Kept warm', `${inputs.settings.keep} previous release(s) besides the live one`);
      }
      if (!inputs.dryRun) {
        const records = githubRecords(inputs.githubToken, log);
        const retired = [...new Set(removed.map((t) => t.meta.release))];
        if (inputs.all) await records.retired(inputs.environment, 'all');
        else if (retired.length > 0) await records.retired(inputs.environment, retired);
        // A closed pull request's comment says its preview is gone; a second cleanup finds nothing and leaves it.
        const { pullRequest } = readEvent(process.env, log);
        // The release that served last (after a rollback, not the newest), else the newest removed.
        const last = removed.find((t) => t.meta.release === live) ?? newest(removed);
        if (inputs.all && pullRequest && last)
          await records.comment({
            app: inputs.app,
            environment: inputs.environment,
            pullRequest,
            digest: last.meta.digest,
            removed: true,
          });
        for (const n of records.notes) summary.note(n);
      }
      summary.title = `anew/cleanup: ${inputs.app}/${inputs.environment}${inputs.dryRun ? ' (dry run)' : ''}`;
      summary.row('Targets removed', removed.length);
      return { removed: removed.map((t) => `${t.name}@${t.engine}`) };
    });
  },
};

export default action;

/** The most recently created of the removed targets: the digest the preview showed last. */
function newest(targets: readonly Target[]): Target | undefined {
  return [...targets].sort((a, b) => b.meta.created.localeCompare(a.meta.created))[0];
}
