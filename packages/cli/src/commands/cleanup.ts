import { infraFor, prune, retireEnvironment } from '@anew/core/release';
import { COMMON_HELP, environmentCommand, printOutputs } from './shared.ts';

export default environmentCommand({
  usage: `Usage: anew cleanup --environment NAME [--keep N | --all] [options]

Retires releases beyond the newest N warm ones (never the live one), or with --all the whole environment and its route.
${COMMON_HELP}
  --docker-host URL --router-url URL`,
  settings: ['keep', 'docker-host', 'network', 'router-url'],
  booleans: ['all'],
  async run({ app, environment, settings, flags }, log) {
    const infra = infraFor(settings, log);
    const req = { app, environment, dryRun: flags['dry-run'] === 'true' };
    const removed =
      flags['all'] === 'true'
        ? (await retireEnvironment(infra, req)).removed
        : await prune(infra, { ...req, keep: settings.keep });
    printOutputs({ removed: removed.map((t) => `${t.name}@${t.engine}`).join(',') });
    return 0;
  },
});
