import { flip, infraFor } from '@anew/core/release';
import { COMMON_HELP, environmentCommand, printOutputs } from './shared.ts';

export default environmentCommand({
  usage: `Usage: anew flip --environment NAME --target TARGET [options]

Moves the environment's traffic to a healthy target (the "target" of deploy, a release id or a digest).
${COMMON_HELP}
  --docker-host URL --router-url URL --listen :8080 --hosts a.example,b.example
  --strategy blue-green|canary --steps 10,50,100 --interval 30s --max-error-rate 0.01`,
  settings: [
    'docker-host',
    'network',
    'router-url',
    'hosts',
    'listen',
    'strategy',
    'steps',
    'interval',
    'max-error-rate',
  ],
  values: ['target'],
  async run({ app, environment, settings, flags }, log) {
    const result = await flip(infraFor(settings, log), {
      app,
      environment,
      to: flags['target'] ?? '',
      settings,
      dryRun: flags['dry-run'] === 'true',
    });
    printOutputs({ release: result.release, 'previous-target': result.previousTarget });
    return 0;
  },
});
