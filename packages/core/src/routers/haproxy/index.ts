import { UserError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import type { AdminTransport } from '../admin-transport.ts';
import { hostsOverlap } from '../caddy/route.ts';
import { type Backend, RouteConflictError, type Router, type RouteSpec, type RouteState } from '../index.ts';
import { MAINT, MasterCli, parseServersState, type ServerState, serving } from './cli.ts';
import {
  backendName,
  DEFAULTS_FILE,
  desiredServers,
  markerAddress,
  markerName,
  markerTime,
  markerVersion,
  metaOf,
  metaServerName,
  normalizeListen,
  parseMetaServer,
  parseRouteMeta,
  parseServerName,
  type RouteMeta,
  renderDefaults,
  renderListens,
  renderRoute,
  routeFile,
} from './config.ts';
import { ConfigFolder } from './folder.ts';

export * from './cli.ts';
export * from './config.ts';
export * from './folder.ts';

export const DEFAULT_CONFIG_DIR = '/etc/haproxy/anew.d';
/** Longer than any write holds the version lock (a reload included). */
const STALE_LOCK_MS = 120_000;

/**
 * HAProxy 2.6 in master-worker mode, through its master CLI. Traffic moves
 * through the runtime API only (add server, set server weight, state maint,
 * del server): no reload, no client connection touched. Only a new or
 * retired environment, or new host names, change the configuration: that
 * rewrites the frontend files and reloads seamlessly (the master hands the
 * listening sockets over; `option idle-close-on-response` lets the old
 * process finish every idle keep-alive connection with an answer).
 *
 * State lives in HAProxy and in anew's folder: every change writes the
 * route's file first, then the runtime, so a restart or a reload serves
 * what anew last set. `read` and `list` ask the runtime alone (one command):
 * servers are named after their release and target, and a server never
 * enabled carries the rest of the route (hosts, listen, history).
 *
 * Compare-and-set. HAProxy has no ETag, and `set map` lets the last writer
 * win, but `add server` refuses a name that exists, atomically (the worker
 * runs CLI commands one at a time). The route's version is the marker server
 * `anew-version.<n>` (a server never enabled) with the lowest n. A write from
 * version n:
 *   1. adds `anew-version.<n+1>`: of two writers from n, one gets "Already
 *      exists" and changes nothing (RouteConflictError);
 *   2. checks that `anew-version.<n>` is still there and nothing above n+1
 *      is: a writer from an older n (whose n+1 was already taken and
 *      released) backs out here, removing its marker;
 *   3. writes the file, applies the servers, then removes `anew-version.<n>`,
 *      which makes n+1 the version. While both markers exist, readers see n
 *      and every other writer from n fails at step 1.
 * A write interrupted between 1 and 3 leaves both markers: later writers are
 * refused while it may still run, and after two minutes (the marker's
 * address says when it was taken) the next writer from n takes it over.
 * Creating and removing an environment are serialized by a lock folder in
 * router-config, and a route that exists already is a conflict. A reload
 * (another environment added) between steps 1 and 3 loads the files without
 * the new marker: step 3 adds it again, as the route's file has it.
 */
export class HaproxyRouter implements Router {
  readonly cli: MasterCli;
  readonly folder: ConfigFolder;

  constructor(
    readonly transport: AdminTransport,
    configDir: string = DEFAULT_CONFIG_DIR,
    private readonly log?: Logger,
  ) {
    if (transport.address.kind !== 'unix')
      throw new UserError(
        `router-url "${transport.url}" is not a socket`,
        "HAProxy's master CLI is a unix socket: unix:///run/haproxy-master.sock, or ssh://user@host/run/haproxy-master.sock",
      );
    this.cli = new MasterCli(transport);
    this.folder = new ConfigFolder(transport, configDir);
  }

  async read(app: string, environment: string): Promise<RouteState | undefined> {
    const servers = await this.cli.serversState(backendName(app, environment));
    if (servers.length === 0) return undefined;
    return stateOf(this.metaIn(backendName(app, environment), servers), servers);
  }

  async list(app?: string): Promise<RouteState[]> {
    const byBackend = new Map<string, ServerState[]>();
    for (const s of await this.cli.serversState())
      if (s.backend.startsWith('anew.')) byBackend.set(s.backend, [...(byBackend.get(s.backend) ?? []), s]);
    const out: RouteState[] = [];
    for (const [backend, servers] of byBackend) {
      // A backend of that name without anew's description is someone else's.
      if (!servers.some((s) => parseMetaServer(s.name))) continue;
      const state = stateOf(this.metaIn(backend, servers), servers);
      if (!app || state.app === app) out.push(state);
    }
    return out;
  }

  /** The route's description, from the meta server of the version readers see. */
  private metaIn(backend: string, servers: ServerState[]): RouteMeta {
    const version = currentVersion(servers);
    const meta = servers.map((s) => parseMetaServer(s.name)).find((m) => m?.version === version);
    if (!meta)
      throw new UserError(
        `HAProxy serves ${backend} without anew's description of it (server anew-route.${version}.…)`,
        `Was it written by hand? Its files are in ${this.folder.dir}`,
      );
    return meta.meta;
  }

  async dials(app: string, environment: string): Promise<string[]> {
    const servers = await this.cli.serversState(backendName(app, environment));
    return [...new Set(servers.filter((s) => serving(s) && parseServerName(s.name)).map((s) => s.dial))];
  }

  async write(spec: RouteSpec, expected: RouteState | undefined): Promise<RouteState> {
    checkSpec(spec);
    if (!expected) await this.create(spec);
    else
      await this.withVersion(spec, expected, async (next, servers) => {
        const frontChanged =
          normalizeListen(spec.listen) !== normalizeListen(expected.listen) ||
          [...spec.hosts].sort().join() !== [...expected.hosts].sort().join();
        if (frontChanged) {
          await this.folder.locked(async () => {
            const routes = await this.routeMetas();
            checkHostsFree(routes, spec);
            routes.set(routeFile(spec.app, spec.environment), metaOf(spec));
            await this.rewrite(
              routes,
              new Map([[routeFile(spec.app, spec.environment), renderRoute(spec, next)]]),
            );
          });
        } else {
          await this.folder.write(
            new Map([[routeFile(spec.app, spec.environment), renderRoute(spec, next)]]),
          );
        }
        await this.apply(spec, next, frontChanged ? undefined : servers);
      });
    const now = await this.read(spec.app, spec.environment);
    if (!now || !sameRoute(now, spec)) throw conflict(spec);
    return now;
  }

  async remove(expected: RouteState): Promise<void> {
    await this.withVersion(expected, expected, async () => {
      await this.folder.locked(async () => {
        const routes = await this.routeMetas();
        routes.delete(routeFile(expected.app, expected.environment));
        await this.rewrite(routes, new Map([[routeFile(expected.app, expected.environment), null]]));
      });
    });
  }

  publicUrl(listen: string): string {
    const l = normalizeListen(listen);
    const i = l.lastIndexOf(':');
    const host = l.slice(0, i);
    const wildcard = host === '' || host === '0.0.0.0' || host === '[::]' || host === '::';
    return `http://${wildcard ? this.transport.serverHost : host}:${l.slice(i + 1)}`;
  }

  /** The compare-and-set of the class comment around `change` (which gets the new version). */
  private async withVersion(
    route: Pick<RouteSpec, 'app' | 'environment'>,
    expected: RouteState,
    change: (next: number, servers: ServerState[]) => Promise<void>,
  ): Promise<void> {
    const backend = backendName(route.app, route.environment);
    const from = Number(expected.version);
    if (!Number.isInteger(from) || from < 1) throw conflict(route);
    const next = from + 1;
    // The marker and the state after it in one round trip: the worker runs them back to back.
    const take = () =>
      this.cli.master(
        `@1 add server ${backend}/${markerName(next)} ${markerAddress(new Date())} weight 0; @1 show servers state ${backend}`,
      );
    let out = await take();
    if (/already exists|no such backend/i.test(out)) {
      const now = await this.cli.serversState(backend);
      const held = now.find((s) => s.name === markerName(next));
      const since = held && markerTime(held.dial);
      const stuck = now.some((s) => s.name === markerName(from)) && since !== undefined;
      if (stuck && Date.now() - since.getTime() > STALE_LOCK_MS) {
        // A writer killed between taking the lock and finishing: its half-done change is
        // replaced by this one, which writes the whole route.
        this.log?.warning(
          `${backend}: a change taken at ${since.toISOString()} never finished; taking over its lock`,
        );
        const leftovers = now.filter(
          (s) => s.name === markerName(next) || parseMetaServer(s.name)?.version === next,
        );
        await this.cli.master(leftovers.map((s) => `@1 del server ${backend}/${s.name}`).join('; '));
        out = await take();
      }
    }
    if (/already exists|no such backend/i.test(out)) {
      const markers = (await this.cli.serversState(backend)).map((s) => markerVersion(s.name));
      const stuck = markers.includes(from) && markers.includes(next);
      throw conflict(
        route,
        stuck
          ? `${backend} is being changed by another writer (a lock left by a killed one is taken over after ${STALE_LOCK_MS / 60_000} minutes)`
          : undefined,
      );
    }
    if (!/New server registered/i.test(out))
      throw new Error(`HAProxy refused the version marker of ${backend}: ${out.trim()}`);
    const servers = parseServersState(out);
    const markers = servers.map((s) => markerVersion(s.name)).filter((v) => v !== undefined);
    if (!markers.includes(from) || markers.some((v) => v > next)) {
      await this.cli.worker(`del server ${backend}/${markerName(next)}`);
      throw conflict(route);
    }
    await change(next, servers);
    // Now the route is at `next`: the older markers and descriptions go, in one round trip.
    const old = servers.filter((s) => {
      const v = markerVersion(s.name) ?? parseMetaServer(s.name)?.version;
      return v !== undefined && v < next;
    });
    if (old.length > 0)
      await this.cli.master(old.map((s) => `@1 del server ${backend}/${s.name}`).join('; '));
  }

  /**
   * Makes the runtime serve `spec`: new servers in and enabled, weights set,
   * then the servers of releases that left put in maintenance (HAProxy
   * sends them no new request; those under way finish) and deleted once
   * they hold no connection. Checked by reading the state back, and done
   * again if a reload (another environment added meanwhile) came between.
   */
  private async apply(spec: RouteSpec, version: number, known?: ServerState[]): Promise<void> {
    const backend = backendName(spec.app, spec.environment);
    const want = desiredServers(spec.backends);
    for (let attempt = 0; ; attempt++) {
      const state = attempt === 0 && known ? known : await this.cli.serversState(backend);
      const now = new Map(state.map((s) => [s.name, s]));
      const cmds: string[] = [];
      const meta = metaServerName(version, metaOf(spec));
      if (!now.has(meta)) cmds.push(`add server ${backend}/${meta} 127.0.0.1:1 weight 0`);
      if (!now.has(markerName(version)))
        cmds.push(`add server ${backend}/${markerName(version)} ${markerAddress(new Date())} weight 0`);
      for (const d of want) {
        const cur = now.get(d.name);
        const [host, port] = splitDial(d.dial);
        if (!cur) {
          cmds.push(
            `add server ${backend}/${d.name} ${d.dial} weight ${d.weight}`,
            `enable server ${backend}/${d.name}`,
          );
          continue;
        }
        if (cur.dial !== d.dial) cmds.push(`set server ${backend}/${d.name} addr ${host} port ${port}`);
        if (cur.weight !== d.weight) cmds.push(`set server ${backend}/${d.name} weight ${d.weight}`);
        if (!serving(cur) || cur.weight !== d.weight)
          cmds.push(`set server ${backend}/${d.name} state ready`);
      }
      const leaving = [...now.values()].filter(
        (s) => parseServerName(s.name) && !want.some((d) => d.name === s.name),
      );
      for (const s of leaving)
        if ((s.admin & MAINT) === 0) cmds.push(`set server ${backend}/${s.name} state maint`);
      if (cmds.length > 0) {
        // One connection: the worker runs them back to back.
        const out = await this.cli.master(cmds.map((c) => `@1 ${c}`).join('; '));
        this.log?.debug(`HaproxyRouter.apply: ${cmds.join('; ')} → ${out.replace(/\s+/g, ' ').trim()}`);
      }
      const after = await this.cli.serversState(backend);
      if (servesExactly(after, want)) {
        await this.retire(
          backend,
          after.filter((s) => leaving.some((l) => l.name === s.name)),
        );
        return;
      }
      if (attempt >= 2)
        throw new Error(
          `HAProxy does not serve what was set for ${backend}: ${after.map((s) => `${s.name}=${s.dial}/${s.weight}/${s.admin}`).join(', ')}`,
        );
    }
  }

  /** Deletes servers in maintenance once their connections are done (waits up to 2 s; later writes retry). */
  private async retire(backend: string, servers: ServerState[]): Promise<void> {
    let left = servers;
    for (let i = 0; i < 20 && left.length > 0; i++) {
      const still: ServerState[] = [];
      for (const s of left) {
        const out = await this.cli.worker(`del server ${backend}/${s.name}`);
        if (!/Server deleted|No such server/i.test(out)) still.push(s);
      }
      left = still;
      if (left.length > 0) await new Promise((r) => setTimeout(r, 100));
    }
    if (left.length > 0)
      this.log?.debug(
        `HaproxyRouter.retire: ${left.map((s) => s.name).join(', ')} still hold connections; left in maintenance`,
      );
  }

  /** The first route of an environment: its backend and a frontend rule are configuration, so a seamless reload. */
  private async create(spec: RouteSpec): Promise<void> {
    const backend = backendName(spec.app, spec.environment);
    await this.folder.locked(async () => {
      if (await this.cli.backendExists(backend)) throw conflict(spec);
      const routes = await this.routeMetas();
      checkHostsFree(routes, spec);
      routes.set(routeFile(spec.app, spec.environment), metaOf(spec));
      await this.rewrite(routes, new Map([[routeFile(spec.app, spec.environment), renderRoute(spec, 1)]]));
      if (!(await this.cli.backendExists(backend)))
        throw new UserError(
          `HAProxy reloaded but has no backend ${backend}: it does not load ${this.folder.dir}`,
          `Start HAProxy with -f ${this.folder.dir} beside its own configuration (see docs/routers.md), or set router-config to the folder it loads`,
        );
    });
  }

  private async routeMetas(): Promise<Map<string, RouteMeta>> {
    const out = new Map<string, RouteMeta>();
    for (const [name, file] of await this.folder.read('route.')) {
      const meta = parseRouteMeta(file);
      if (meta) out.set(name, meta);
    }
    return out;
  }

  /**
   * Writes the route files given and every frontend for `routes`, then
   * reloads. If HAProxy refuses the result, the files are put back as they
   * were (the old process never stopped serving) and the error says so.
   */
  private async rewrite(
    routes: Map<string, RouteMeta>,
    routeFiles: Map<string, string | null>,
  ): Promise<void> {
    const listens = renderListens([...routes.values()]);
    const before = await this.folder.read('');
    const changes = new Map<string, string | null>(routeFiles);
    if (!before.has(DEFAULTS_FILE)) changes.set(DEFAULTS_FILE, renderDefaults());
    for (const name of before.keys())
      if (name.startsWith('listen.') && !listens.has(name)) changes.set(name, null);
    for (const [name, content] of listens) changes.set(name, content);
    await this.folder.write(changes);
    try {
      await this.reload();
    } catch (e) {
      await this.folder.write(new Map([...changes.keys()].map((name) => [name, before.get(name) ?? null])));
      throw e;
    }
  }

  /** A seamless reload through the master, waited for: the new worker serves when it returns. */
  async reload(): Promise<void> {
    const before = await this.cli.reloads();
    this.log?.info(`Reloading HAProxy (a new environment or host names: configuration, not traffic)`);
    // The master re-executes itself and closes the CLI connection, with or without an answer.
    await this.cli.master('reload', 5000).catch(() => undefined);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      const now = await this.cli.reloads().catch(() => undefined);
      if (!now || now.reloads <= before.reloads) continue;
      if (now.failed > before.failed)
        throw new UserError(
          'HAProxy refused the new configuration; it still serves the previous one, and anew put its files back',
          `Run haproxy -c with the same -f files as the running HAProxy to see why (anew's folder: ${this.folder.dir})`,
        );
      if (now.worker !== undefined && now.worker !== before.worker) return;
    }
    throw new Error('HAProxy did not finish reloading within 30 s');
  }
}

/** The version readers see: the lowest marker (a higher one is a write under way). */
function currentVersion(servers: ServerState[]): number {
  const versions = servers.map((s) => markerVersion(s.name)).filter((v) => v !== undefined);
  return versions.length ? Math.min(...versions) : 0;
}

function checkSpec(spec: RouteSpec): void {
  backendName(spec.app, spec.environment);
  const total = spec.backends.reduce((n, b) => n + b.weight, 0);
  if (spec.backends.length > 0 && total !== 100)
    throw new Error(`the shares of ${spec.app}/${spec.environment} add up to ${total}, not 100`);
  desiredServers(spec.backends);
}

function splitDial(dial: string): [string, string] {
  const i = dial.lastIndexOf(':');
  return [dial.slice(0, i).replace(/^\[|\]$/g, ''), dial.slice(i + 1)];
}

function servesExactly(servers: ServerState[], want: ReturnType<typeof desiredServers>): boolean {
  const live = servers.filter((s) => serving(s) && parseServerName(s.name));
  return (
    live.length === want.length &&
    want.every((d) => live.some((s) => s.name === d.name && s.dial === d.dial && s.weight === d.weight))
  );
}

/**
 * The route HAProxy serves: servers from the runtime, the rest from the
 * file. The exact shares come from the file while the runtime weights are
 * the ones they give; otherwise (a hand-made change) from the weights.
 */
export function stateOf(meta: RouteMeta, servers: ServerState[]): RouteState {
  const live = servers.filter((s) => serving(s) && parseServerName(s.name));
  const want = desiredServers(meta.backends);
  const backends: Backend[] = servesExactly(servers, want)
    ? meta.backends.filter((b) => b.weight > 0).map((b) => ({ ...b, dials: [...b.dials].sort() }))
    : fromWeights(live);
  return {
    app: meta.app,
    environment: meta.environment,
    hosts: meta.hosts,
    listen: meta.listen,
    history: meta.history,
    backends,
    version: String(currentVersion(servers)),
  };
}

function fromWeights(live: ServerState[]): Backend[] {
  const byRelease = new Map<string, { target: string; dials: string[]; weight: number }>();
  for (const s of live) {
    const n = parseServerName(s.name)!;
    const b = byRelease.get(n.release) ?? { target: n.target, dials: [], weight: 0 };
    b.dials.push(s.dial);
    b.weight += s.weight;
    byRelease.set(n.release, b);
  }
  const total = [...byRelease.values()].reduce((n, b) => n + b.weight, 0);
  const out = [...byRelease].map(([release, b]) => ({
    release,
    target: b.target,
    dials: b.dials.sort(),
    weight: Math.round((b.weight * 100) / total),
  }));
  const drift = 100 - out.reduce((n, b) => n + b.weight, 0);
  if (out.length > 0) out.sort((a, b) => b.weight - a.weight)[0]!.weight += drift;
  return out;
}

function sameRoute(state: RouteState, spec: RouteSpec): boolean {
  const norm = (r: RouteSpec) =>
    JSON.stringify({
      hosts: [...r.hosts].sort(),
      listen: normalizeListen(r.listen),
      history: r.history,
      backends: r.backends
        .filter((b) => b.weight > 0)
        .map((b) => ({ release: b.release, target: b.target, dials: [...b.dials].sort(), weight: b.weight }))
        .sort((a, b) => a.release.localeCompare(b.release)),
    });
  return norm(state) === norm(spec);
}

function conflict(spec: Pick<RouteSpec, 'app' | 'environment'>, detail?: string): RouteConflictError {
  return new RouteConflictError(
    `the route of ${spec.app}/${spec.environment} changed concurrently (another flip or rollback won); nothing was changed by this one. Run status to see what is live, then retry if it is still needed`,
    detail,
  );
}

/**
 * A host on a listen address belongs to one environment (as with Caddy: the
 * same overlap rules); checked under the folder's lock, before any file
 * changes. An environment for any host may share an address with ones for
 * named hosts: those go to their own.
 */
function checkHostsFree(routes: Map<string, RouteMeta>, spec: RouteSpec): void {
  const listen = normalizeListen(spec.listen);
  for (const r of routes.values()) {
    if (r.app === spec.app && r.environment === spec.environment) continue;
    if (normalizeListen(r.listen) !== listen) continue;
    const shared = hostsOverlap(spec.hosts, r.hosts);
    if (!shared) continue;
    throw new UserError(
      `${spec.app}/${spec.environment} cannot be served on ${spec.listen} for ${shared}: the environment ${r.app}/${r.environment} already serves ${shared === 'any host' ? 'every host' : 'it'} there; nothing was changed`,
      shared === 'any host'
        ? 'Give this environment its own hosts, or another listen address'
        : 'Use other hosts or another listen address, or retire that environment first (cleanup with all)',
    );
  }
}
