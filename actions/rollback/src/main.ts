import type { ActionDefinition, InputReader } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import { commentLive, githubRecords } from '@anew/action/github';
import type { SettingKey, Settings } from '@anew/core/config';
import { UserError } from '@anew/core/errors';
import { environmentUrl, rollback, withInfra } from '@anew/core/release';
import { spec } from './spec.ts';

interface Inputs {
  environment: string;
  to: string | undefined;
  app: string;
  settings: Settings;
  /** The settings an input or anew.yml gave: the rest follow the live route. */
  given: ReadonlySet<SettingKey>;
  dryRun: boolean;
  githubToken: string | undefined;
}

function parse(r: InputReader): Inputs {
  const { environment, app, settings, given } = readEnvironment(r, 'rollback');
  const to = r.optional('to');
  if (to !== undefined && !/^(sha256:[0-9a-f]{64}|[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254})$/.test(to))
    throw new UserError(
      `${r.name('to')} is ${JSON.stringify(to)}`,
      'Give a release id (e.g. 20260101-120000-abc123), a target name or an image digest (sha256:…)',
    );
  return {
    environment,
    to,
    app,
    settings,
    given,
    dryRun: r.bool('dry-run'),
    githubToken: r.secret('github-token'),
  };
}

const action: ActionDefinition<Inputs, { release?: string; target?: string }> = {
  ...spec,
  parse,
  async main(inputs, { log, summary }) {
    return withInfra(inputs.settings, log, async (infra) => {
      const result = await rollback(infra, {
        app: inputs.app,
        environment: inputs.environment,
        to: inputs.to,
        settings: inputs.settings,
        given: inputs.given,
        dryRun: inputs.dryRun,
      });
      if (!result.dryRun && result.changed) {
        // A new deployment of the release it returned to, so GitHub's history reads in the order traffic moved.
        const records = githubRecords(inputs.githubToken, log);
        const url = environmentUrl(
          { url: inputs.settings.url, hosts: result.hosts, listen: result.listen },
          infra.router,
        );
        await records.rolledBack({
          app: inputs.app,
          environment: inputs.environment,
          release: result.release,
          digest: result.digest,
          target: result.target,
          commit: result.commit,
          url,
          from: result.previousRelease,
        });
        // The pull request's preview comment named the digest that no longer serves.
        await commentLive(
          records,
          {
            app: inputs.app,
            environment: inputs.environment,
            url,
            digest: result.digest,
            commit: result.commit,
            provenance: result.provenance,
            ...(result.previousDigest && result.previousDigest !== result.digest
              ? { rolledBackFrom: result.previousDigest }
              : {}),
          },
          log,
        );
        for (const n of records.notes) summary.note(n);
      }
      summary.title = result.dryRun
        ? 'anew/rollback: plan (dry run)'
        : `anew/rollback: ${inputs.app}/${inputs.environment}`;
      summary
        .row('Release now live', result.release)
        .row('Target', result.target)
        .row('Rolled back from', result.previousRelease);
      return result.dryRun ? {} : { release: result.release, target: result.target };
    });
  },
};

export default action;
