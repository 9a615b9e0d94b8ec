import { DEFAULT_HAPROXY_CONFIG, ROUTER_URLS, type Settings } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { routerFor } from '../routers/factory.ts';
import type { Router } from '../routers/index.ts';
import { DockerEngine } from '../targets/docker/index.ts';
import type { TargetEngine } from '../targets/index.ts';

/**
 * The engines and the router an environment lives on: everything a release
 * operation touches. It may hold ssh connections (an engine or an admin API
 * reached by ssh://): `close` ends them, and `withInfra` is how the actions
 * and the CLI make sure it is called.
 */
export interface Infra {
  engines: TargetEngine[];
  router: Router;
  log: Logger;
  close(): Promise<void>;
}

/** Builds the infrastructure; connects to nothing yet (each connection opens on first use). */
export function infraFor(settings: Settings, log: Logger): Infra {
  const hosts = settings['docker-host'].length > 0 ? settings['docker-host'] : [''];
  const kind = settings.router;
  const router = routerFor(
    {
      kind,
      url: settings['router-url'] ?? ROUTER_URLS[kind],
      config: settings['router-config'] ?? (kind === 'haproxy' ? DEFAULT_HAPROXY_CONFIG : undefined),
      ca: settings['router-ca'],
      cert: settings['router-cert'],
      key: settings['router-key'],
    },
    log,
  );
  const engines = hosts.map((host) => new DockerEngine({ host, network: settings.network, log }));
  return {
    engines,
    router,
    log,
    async close() {
      await Promise.allSettled([router.close(), ...engines.map((e) => e.close())]);
    },
  };
}

/** Runs `fn` on the environment's infrastructure and closes it after, whatever happened: no connection outlives the step. */
export async function withInfra<T>(
  settings: Settings,
  log: Logger,
  fn: (infra: Infra) => Promise<T>,
): Promise<T> {
  const infra = infraFor(settings, log);
  try {
    return await fn(infra);
  } finally {
    await infra.close();
  }
}
