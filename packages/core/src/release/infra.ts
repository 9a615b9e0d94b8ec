import { DEFAULT_HAPROXY_CONFIG, ROUTER_URLS, type Settings } from '../config/index.ts';
import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { routerFor } from '../routers/factory.ts';
import type { Router } from '../routers/index.ts';
import { GatewayRouter, KubeServiceRouter } from '../routers/kubernetes/index.ts';
import { DockerEngine } from '../targets/docker/index.ts';
import type { TargetEngine } from '../targets/index.ts';
import { KubeEngine } from '../targets/kubernetes/index.ts';
import { SwarmEngine } from '../targets/swarm/index.ts';

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
  const kubeRouter = settings.router === 'kubernetes-service' || settings.router === 'gateway-api';
  if (settings.driver === 'kubernetes') {
    if (!kubeRouter)
      throw new UserError(
        `router ${settings.router} cannot reach releases inside a cluster`,
        'With driver kubernetes use router kubernetes-service or gateway-api',
      );
    const engine = new KubeEngine({
      kubeconfig: settings.kubeconfig,
      context: settings['kube-context'],
      namespace: settings.namespace,
      replicas: settings.replicas,
      log,
    });
    const router =
      settings.router === 'gateway-api'
        ? new GatewayRouter(engine.api, settings.namespace, settings.gateway)
        : new KubeServiceRouter(engine.api, settings.namespace);
    return { engines: [engine], router, log, close: () => engine.close() };
  }
  if (kubeRouter)
    throw new UserError(
      `router ${settings.router} routes to Kubernetes releases`,
      'Set driver kubernetes, or use router caddy or haproxy',
    );
  const kind = settings.router as 'caddy' | 'haproxy';
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
  const engines = enginesFor(settings, log);
  return {
    engines,
    router,
    log,
    async close() {
      await Promise.allSettled([router.close(), ...engines.map((e) => e.close())]);
    },
  };
}

/** Docker: every docker-host runs each release. Swarm: docker-host names one manager, which places the tasks. */
export function enginesFor(settings: Settings, log: Logger): TargetEngine[] {
  const driver = settings.driver;
  const hosts = settings['docker-host'].length > 0 ? settings['docker-host'] : [''];
  if (driver === 'swarm') {
    if (hosts.length > 1)
      throw new UserError(
        `driver swarm takes one docker-host (a manager), not ${hosts.length}`,
        'Name one manager of the swarm; it places the tasks on the nodes',
      );
    if (settings.network !== 'host')
      throw new UserError(
        `driver swarm runs its tasks on the host network, not "${settings.network}"`,
        'Leave network unset (host) with driver swarm',
      );
    return [new SwarmEngine({ host: hosts[0]!, log })];
  }
  return hosts.map((host) => new DockerEngine({ host, network: settings.network, log }));
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
