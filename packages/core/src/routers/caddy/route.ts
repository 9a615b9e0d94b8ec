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

/**
 * The spec a route was written from; undefined when it is not anew's: no
 * vars handler of ours, or one whose values do not have the shapes anew
 * writes (a route edited by hand, or another tool's under an id like ours).
 */
export function parseCaddyRoute(route: unknown): RouteSpec | undefined {
  if (!isObject(route) || !Array.isArray(route['handle'])) return undefined;
  const vars = (route['handle'] as unknown[]).find((h) => isObject(h) && h['handler'] === 'vars') as
    | Record<string, unknown>
    | undefined;
  if (!vars) return undefined;
  const app = vars[VARS.app];
  const environment = vars[VARS.environment];
  const listen = vars[VARS.listen] ?? '';
  const backends = vars[VARS.backends] ?? [];
  const history = vars[VARS.history] ?? [];
  const hosts = hostsOf(route);
  if (
    typeof app !== 'string' ||
    typeof environment !== 'string' ||
    typeof listen !== 'string' ||
    !hosts ||
    !Array.isArray(backends) ||
    !backends.every(isBackend) ||
    !isStrings(history)
  )
    return undefined;
  return { app, environment, listen, hosts, backends, history };
}

/** The host names a route matches; [] for a route without a matcher (it takes any host); undefined when it matches in a way anew does not write. */
export function hostsOf(route: unknown): string[] | undefined {
  if (!isObject(route)) return undefined;
  const match = route['match'];
  if (match === undefined) return [];
  if (!Array.isArray(match) || match.length !== 1 || !isObject(match[0])) return undefined;
  const host = match[0]['host'];
  return isStrings(host) ? host : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isBackend(v: unknown): v is Backend {
  return (
    isObject(v) &&
    typeof v['release'] === 'string' &&
    typeof v['target'] === 'string' &&
    isStrings(v['dials']) &&
    typeof v['weight'] === 'number' &&
    Number.isFinite(v['weight'])
  );
}

/**
 * The first host of `a` that a route for `b` on the same listen address
 * would also answer for, if any: an equal name (in any case), or a wildcard
 * label that covers the other (Caddy's `*` stands for exactly one label);
 * "any host" when both take every host.
 */
export function hostsOverlap(a: readonly string[], b: readonly string[]): string | undefined {
  if (a.length === 0 && b.length === 0) return 'any host';
  for (const x of a) for (const y of b) if (hostCovers(x, y) || hostCovers(y, x)) return x;
  return undefined;
}

function hostCovers(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().split('.');
  const h = host.toLowerCase().split('.');
  return p.length === h.length && p.every((label, i) => label === '*' || label === h[i]);
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
