import { UserError } from '../../errors/index.ts';
import type { Backend, RouteSpec } from '../index.ts';

/**
 * The names and files anew gives HAProxy, and back. Pure functions, so the
 * encoding is tested in tables.
 *
 * - An environment is a backend `anew.<app>.<environment>` with a dynamic
 *   algorithm (roundrobin), so servers can be added, weighted and drained
 *   through the runtime API.
 * - A server is named `<release>.<target>.<n>` (n: its dial's index), so
 *   HAProxy alone says which release each address belongs to.
 * - A marker server `anew-version.<n>` (never enabled) carries the route's
 *   version: the compare-and-set lock (see index.ts).
 * - A server `anew-route.<n>.<base64url JSON>` (never enabled) carries the
 *   rest of the route: hosts, listen, history, the exact shares.
 * - The route's own file `route.<app>.<environment>.cfg` holds the backend as
 *   the runtime API last set it (markers included), so a restart serves the
 *   same, and a comment with the route for people and for rewriting the
 *   frontends.
 * - One file per listen address, `listen.<address>.cfg`, holds the frontend:
 *   its bind and one use_backend per environment on it, by Host.
 */

export const DEFAULTS_FILE = '00-anew-defaults.cfg';
const NAME = /^[A-Za-z0-9_-]+$/;
const META = '# anew-route ';
export const MAX_WEIGHT = 256;

export function backendName(app: string, environment: string): string {
  for (const [what, v] of [
    ['app', app],
    ['environment', environment],
  ] as const)
    if (!NAME.test(v))
      throw new UserError(
        `the ${what} name "${v}" cannot name an HAProxy backend`,
        'Use letters, digits, "-" and "_" only',
      );
  return `anew.${app}.${environment}`;
}

export function routeFile(app: string, environment: string): string {
  return `route.${app}.${environment}.cfg`;
}

export function listenFile(listen: string): string {
  return `listen.${listenId(listen)}.cfg`;
}

function listenId(listen: string): string {
  return normalizeListen(listen).replace(/[^A-Za-z0-9]+/g, '_') || 'any';
}

/** ":8080", "0.0.0.0:8080" and "tcp/:8080" are the same listen address. */
export function normalizeListen(listen: string): string {
  return listen.replace(/^tcp\//, '').replace(/^(0\.0\.0\.0|\[::\])(?=:\d+$)/, '');
}

export function markerName(version: number): string {
  return `anew-version.${version}`;
}

/**
 * A marker's address says when it was taken (it never receives traffic):
 * the seconds since 1970 in the last three bytes of a 127/8 address and in
 * the port. A lock older than any write is one a killed writer left.
 */
export function markerAddress(at: Date): string {
  const s = Math.floor(at.getTime() / 1000);
  return `127.${(s >>> 16) & 255}.${(s >>> 8) & 255}.${s & 255}:${Math.floor(s / 2 ** 24) + 1}`;
}

export function markerTime(dial: string): Date | undefined {
  const m = /^127\.(\d+)\.(\d+)\.(\d+):(\d+)$/.exec(dial);
  if (!m) return undefined;
  const s = (Number(m[4]) - 1) * 2 ** 24 + Number(m[1]) * 2 ** 16 + Number(m[2]) * 2 ** 8 + Number(m[3]);
  return new Date(s * 1000);
}

export function markerVersion(server: string): number | undefined {
  const m = /^anew-version\.(\d+)$/.exec(server);
  return m ? Number(m[1]) : undefined;
}

/**
 * The rest of the route (hosts, listen, history, the exact shares), in the
 * name of a server never enabled: HAProxy itself then says everything `read`
 * needs, through one runtime command. base64url keeps to the characters a
 * server name may have.
 */
export function metaServerName(version: number, meta: RouteMeta): string {
  return `anew-route.${version}.${Buffer.from(JSON.stringify(meta)).toString('base64url')}`;
}

export function parseMetaServer(name: string): { version: number; meta: RouteMeta } | undefined {
  const m = /^anew-route\.(\d+)\.([A-Za-z0-9_-]+)$/.exec(name);
  if (!m) return undefined;
  try {
    const meta = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8')) as RouteMeta;
    return typeof meta.app === 'string' ? { version: Number(m[1]), meta } : undefined;
  } catch {
    return undefined;
  }
}

export function serverName(release: string, target: string, index: number): string {
  for (const [what, v] of [
    ['release', release],
    ['target', target],
  ] as const)
    if (!NAME.test(v))
      throw new UserError(
        `the ${what} "${v}" cannot name an HAProxy server`,
        'Release ids and target names are letters, digits, "-" and "_"',
      );
  return `${release}.${target}.${index}`;
}

export function parseServerName(
  name: string,
): { release: string; target: string; index: number } | undefined {
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.(\d+)$/.exec(name);
  if (!m || m[1] === 'anew-route' || m[1] === 'anew-version') return undefined;
  return { release: m[1]!, target: m[2]!, index: Number(m[3]) };
}

export interface DesiredServer {
  name: string;
  release: string;
  target: string;
  dial: string;
  weight: number;
}

/**
 * HAProxy's integer server weights (0–256) for the route's shares: a release
 * on several hosts splits its share between its dials. Exact ratios while
 * they fit in 256 (10/90 → 1 and 9); scaled and rounded beyond.
 */
export function desiredServers(backends: readonly Backend[]): DesiredServer[] {
  const live = backends.filter((b) => b.weight > 0);
  for (const b of live)
    if (b.dials.length === 0) throw new Error(`release ${b.release} has a share but no address`);
  if (live.length === 0) return [];
  const hostsLcm = live.reduce((l, b) => lcm(l, b.dials.length), 1);
  const perDial = live.map((b) => (b.weight * hostsLcm) / b.dials.length);
  const g = perDial.reduce((x, y) => gcd(x, y));
  let weights = perDial.map((w) => w / g);
  const max = Math.max(...weights);
  if (max > MAX_WEIGHT) weights = weights.map((w) => Math.max(1, Math.round((w * MAX_WEIGHT) / max)));
  return live.flatMap((b, i) =>
    [...b.dials].sort().map((dial, n) => ({
      name: serverName(b.release, b.target, n),
      release: b.release,
      target: b.target,
      dial,
      weight: weights[i]!,
    })),
  );
}

export interface RouteMeta {
  app: string;
  environment: string;
  hosts: string[];
  listen: string;
  history: string[];
  /** The shares as asked (HAProxy keeps only the integer weights). */
  backends: Backend[];
}

export function metaOf(spec: RouteSpec): RouteMeta {
  return {
    app: spec.app,
    environment: spec.environment,
    hosts: [...spec.hosts],
    listen: spec.listen,
    history: [...spec.history],
    backends: spec.backends.map((b) => ({ ...b, dials: [...b.dials].sort() })),
  };
}

/** The route's file: the backend as the runtime API sets it, and the route's description. */
export function renderRoute(spec: RouteSpec, version: number): string {
  const lines = [
    '# Written by anew: changed through the runtime API and kept in step here, so a restart serves the same.',
    '# Edits by hand are overwritten at the next flip.',
    `${META}${JSON.stringify(metaOf(spec))}`,
    `backend ${backendName(spec.app, spec.environment)}`,
    '  balance roundrobin',
    // A connection refused by one server is retried on another: a target that just stopped costs no request.
    '  retries 3',
    '  option redispatch 1',
    `  server ${markerName(version)} ${markerAddress(new Date())} disabled weight 0`,
    `  server ${metaServerName(version, metaOf(spec))} 127.0.0.1:1 disabled weight 0`,
    ...desiredServers(spec.backends).map((s) => `  server ${s.name} ${s.dial} weight ${s.weight}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function parseRouteMeta(file: string): RouteMeta | undefined {
  const line = file.split('\n').find((l) => l.startsWith(META));
  if (!line) return undefined;
  try {
    const m = JSON.parse(line.slice(META.length)) as RouteMeta;
    return typeof m.app === 'string' && typeof m.environment === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Settings of anew's own sections (its files come after the user's, so this
 * `defaults` covers only them). idle-close-on-response (2.6.12): on a
 * reload, the old process answers the next request of an idle keep-alive
 * connection with `Connection: close` instead of closing it under a request
 * on its way, so a reload costs no client a request.
 */
export function renderDefaults(): string {
  return `${[
    '# Written by anew: the defaults of its own frontends and backends.',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  option idle-close-on-response',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
  ].join('\n')}\n`;
}

/**
 * The frontend of one listen address: routes with host names first (exact,
 * then wildcards), the route for any host as the default.
 */
export function renderListen(listen: string, routes: readonly RouteMeta[]): string {
  const named = routes.filter((r) => r.hosts.length > 0);
  const any = routes.filter((r) => r.hosts.length === 0);
  if (any.length > 1)
    throw new UserError(
      `${any.map((r) => `${r.app}/${r.environment}`).join(' and ')} would both serve every host on ${listen}`,
      'Give one of them hosts, or another listen address',
    );
  const rule = (r: RouteMeta, hosts: string[], match: string) =>
    `  use_backend ${backendName(r.app, r.environment)} if { req.hdr(host),field(1,:),lower ${match} ${hosts.join(' ')} }`;
  const lines = [
    '# Written by anew from the routes on this address; rewritten when an environment is added or removed.',
    `frontend anew-listen.${listenId(listen)}`,
    `  bind ${normalizeListen(listen)}`,
    ...named.flatMap((r) => {
      const exact = r.hosts.filter((h) => !h.startsWith('*.')).map((h) => h.toLowerCase());
      const wild = r.hosts.filter((h) => h.startsWith('*.')).map((h) => h.slice(1).toLowerCase());
      return [
        ...(exact.length ? [rule(r, exact, '-m str')] : []),
        ...(wild.length ? [rule(r, wild, '-m end')] : []),
      ];
    }),
    ...any.map((r) => `  default_backend ${backendName(r.app, r.environment)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Every frontend file for these routes, by file name. */
export function renderListens(routes: readonly RouteMeta[]): Map<string, string> {
  const byListen = new Map<string, RouteMeta[]>();
  for (const r of routes) {
    const key = normalizeListen(r.listen);
    byListen.set(key, [...(byListen.get(key) ?? []), r]);
  }
  const out = new Map<string, string>();
  for (const [listen, rs] of byListen) out.set(listenFile(listen), renderListen(listen, rs));
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a * b) / gcd(a, b);
}
