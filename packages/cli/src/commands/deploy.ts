import { UserError } from '@anew/core/errors';
import { runContextFromEnv } from '@anew/core/github';
import { parsePinnedReference } from '@anew/core/ref';
import { deploy, infraFor } from '@anew/core/release';
import { COMMON_HELP, environmentCommand, printOutputs } from './shared.ts';

export default environmentCommand({
  usage: `Usage: anew deploy --image REPO@sha256:… --environment NAME [options]

Starts a new target from the image and waits until it is healthy, without traffic.
${COMMON_HELP}
  --docker-host URL       engine (repeat for several hosts); default DOCKER_HOST
  --network NAME          host (default) or a Docker network the router is on
  --port N --env K=V --health-path /PATH --health-timeout 60s --keep N --memory 256m --cpus 0.5`,
  settings: [
    'docker-host',
    'network',
    'port',
    'env',
    'health-path',
    'health-timeout',
    'keep',
    'memory',
    'cpus',
    'require-provenance',
  ],
  values: ['image'],
  async run({ app, environment, settings, flags }, log) {
    const image = parsePinnedReference(flags['image'] ?? '', 'option --image');
    if (settings['require-provenance'])
      throw new UserError(
        'provenance verification before deploy is not available yet',
        'Run anew verify first',
      );
    const result = await deploy(infraFor(settings, log), {
      image,
      app,
      environment,
      settings,
      run: runContextFromEnv(),
      dryRun: flags['dry-run'] === 'true',
    });
    printOutputs({ target: result.target, url: result.url, release: result.release });
    return 0;
  },
});
