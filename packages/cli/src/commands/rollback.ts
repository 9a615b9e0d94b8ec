import { infraFor, rollback } from '@anew/core/release';
import { COMMON_HELP, environmentCommand, printOutputs } from './shared.ts';

export default environmentCommand({
  usage: `Usage: anew rollback --environment NAME [--to RELEASE|DIGEST] [options]

Moves traffic back to the previous release (or --to), still warm: a router change only.
${COMMON_HELP}
  --docker-host URL --router-url URL --listen :8080 --hosts a.example`,
  settings: ['docker-host', 'network', 'router-url', 'hosts', 'listen'],
  values: ['to'],
  async run({ app, environment, settings, flags }, log) {
    const result = await rollback(infraFor(settings, log), {
      app,
      environment,
      to: flags['to'],
      settings,
      dryRun: flags['dry-run'] === 'true',
    });
    printOutputs({ release: result.release, target: result.target });
    return 0;
  },
});
