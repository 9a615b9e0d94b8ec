import type { Settings } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { CaddyRouter } from '../routers/caddy/index.ts';
import type { Router } from '../routers/index.ts';
import { DockerEngine } from '../targets/docker/index.ts';
import type { TargetEngine } from '../targets/index.ts';

/** The engines and the router an environment lives on: everything a release operation touches. */
export interface Infra {
  engines: TargetEngine[];
  router: Router;
  log: Logger;
}

export function infraFor(settings: Settings, log: Logger): Infra {
  const hosts = settings['docker-host'].length > 0 ? settings['docker-host'] : [''];
  return {
    engines: hosts.map((host) => new DockerEngine({ host, network: settings.network, log })),
    router: new CaddyRouter(settings['router-url']),
    log,
  };
}
