import type { Backend, RouteSpec } from '../index.ts';
import { expandWeights } from './weights.ts';

/**
 * The Caddy JSON of one environment's route, and back. A `vars` handler
 * carries anew's description of the route (Caddy keeps any keys there and
 * only sets them as request variables), the reverse_proxy does the work.
 */

export function routeId(app: string, environment: string): string {
  return `anew.${app}.${environment}`;
}

export interface CaddyRoute {
  '@id': string;
  match?: { host: string[] }[];
  handle: Record<string, unknown>[];
  terminal: boolean;
}

const VARS = {
  app: 'anew.app',
  environment: 'anew.environment',
  listen: 'anew.listen',
  backends: 'anew.backends',
  history: 'anew.history',
} as const;

export function caddyRoute(spec: RouteSpec): CaddyRoute {
  const route: CaddyRoute = {
    '@id': routeId(spec.app, spec.environment),
    handle: [
      {
        handler: 'vars',
        [VARS.app]: spec.app,
        [VARS.environment]: spec.environment,
        [VARS.listen]: spec.listen,
        [VARS.backends]: spec.backends.map((b) => ({ ...b, dials: [...b.dials] })),
        [VARS.history]: spec.history,
      },
      {
        handler: 'reverse_proxy',
        upstreams: expandWeights(spec.backends).map((dial) => ({ dial })),
        load_balancing: {
          selection_policy: { policy: 'round_robin' },
          // A request that cannot reach its upstream tries again (another one
          // when there are several) instead of failing the user's request.
          try_duration: '5s',
          try_interval: '50ms',
        },
      },
    ],
    terminal: true,
  };
  if (spec.hosts.length > 0) route.match = [{ host: [...spec.hosts] }];
  return route;
}

/** The spec a route was written from; undefined when it is not anew's. */
export function parseCaddyRoute(route: unknown): RouteSpec | undefined {
  const r = route as Partial<CaddyRoute> | null;
  const vars = r?.handle?.find((h) => h['handler'] === 'vars');
  if (!vars || typeof vars[VARS.app] !== 'string') return undefined;
  return {
    app: vars[VARS.app] as string,
    environment: vars[VARS.environment] as string,
    listen: (vars[VARS.listen] as string) ?? '',
    hosts: r?.match?.[0]?.host ?? [],
    backends: (vars[VARS.backends] as Backend[] | undefined) ?? [],
    history: (vars[VARS.history] as string[] | undefined) ?? [],
  };
}

/** The dials a route's proxy really uses: compared with the labels to find routes to targets that are gone. */
export function proxiedDials(route: unknown): string[] {
  const proxy = (route as CaddyRoute).handle?.find((h) => h['handler'] === 'reverse_proxy');
  const ups = (proxy?.['upstreams'] as { dial: string }[] | undefined) ?? [];
  return [...new Set(ups.map((u) => u.dial))];
}

/**
 * The listen address in the form Caddy stores it, to find a server that
 * already listens there (a second server on the same address would fail).
 */
export function sameListen(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/^(tcp\/|0\.0\.0\.0|\[::\])/, '');
  return norm(a) === norm(b);
}

export function serverName(listen: string): string {
  return `anew_${listen.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '')}`;
}

export function newServer(listen: string): Record<string, unknown> {
  const server: Record<string, unknown> = { listen: [listen], routes: [] };
  // Automatic HTTPS would try to get certificates for the hosts of a plain
  // HTTP port; leave it on only for the HTTPS port.
  if (!listen.endsWith(':443')) server['automatic_https'] = { disable: true };
  return server;
}

/** JSON with sorted keys: Caddy stores objects with its own key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
