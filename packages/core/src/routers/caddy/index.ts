import { UserError } from '../../errors/index.ts';
import type { AdminTransport } from '../admin-transport.ts';
import { RouteConflictError, type Router, type RouteSpec, type RouteState } from '../index.ts';
import { AdminError, CaddyAdmin } from './admin.ts';
import {
  caddyRoute,
  canonicalJson,
  hostsOf,
  hostsOverlap,
  newServer,
  parseCaddyRoute,
  proxiedDials,
  routeId,
  sameListen,
  serverName,
} from './route.ts';

export * from './admin.ts';
export * from './route.ts';
export * from './weights.ts';

interface CaddyServer {
  listen?: string[];
  routes?: unknown[];
}

interface CaddyConfig {
  apps?: { http?: { servers?: Record<string, CaddyServer> } };
}

/** How often a write whose If-Match failed only because other routes moved is tried again. */
const MOVED_RETRIES = 5;

/**
 * Caddy through its admin API. A route is addressed by its @id; every change
 * is one request guarded by If-Match with the ETag read before, so two
 * writers racing on one environment cannot both win (Caddy answers 412 to
 * the second, checked against the real Caddy in routers-caddy.test.ts).
 *
 * Caddy 2.6 resolves an @id to the route's index and its ETag names that
 * index (`"/config/apps/http/servers/s/routes/3 <hash>"`), so another
 * environment's route added or removed before ours makes our ETag fail
 * although our route did not change. A 412 is therefore checked by reading
 * the route again: unchanged, the write is tried again with the new ETag;
 * changed, it is a real conflict.
 */
export class CaddyRouter implements Router {
  readonly admin: CaddyAdmin;
  constructor(
    readonly adminUrl: string,
    transport?: AdminTransport,
  ) {
    this.admin = new CaddyAdmin(adminUrl, { transport });
  }

  async read(app: string, environment: string): Promise<RouteState | undefined> {
    const id = routeId(app, environment);
    const res = await this.admin.request('GET', `/id/${id}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new AdminError(`GET /id/${id}`, res);
    const spec = parseCaddyRoute(this.admin.json(`GET /id/${id}`, res));
    if (!spec || spec.app !== app || spec.environment !== environment)
      throw new UserError(
        `the route with @id ${id} in Caddy at ${this.adminUrl} was not written by anew (or was edited by hand), so anew will not change it`,
        `Remove or rename that route in Caddy, or use another app or environment name`,
      );
    return { ...spec, version: res.etag ?? '' };
  }

  /** The dials the proxy of a route really uses. */
  async dials(app: string, environment: string): Promise<string[]> {
    const id = routeId(app, environment);
    const res = await this.admin.request('GET', `/id/${id}`);
    return res.status === 200 ? proxiedDials(this.admin.json(`GET /id/${id}`, res)) : [];
  }

  async list(app?: string): Promise<RouteState[]> {
    const out: RouteState[] = [];
    for (const server of Object.values(await this.servers())) {
      for (const r of server.routes ?? []) {
        const spec = parseCaddyRoute(r);
        if (spec && (!app || spec.app === app)) out.push({ ...spec, version: '' });
      }
    }
    return out;
  }

  async write(spec: RouteSpec, expected: RouteState | undefined): Promise<RouteState> {
    const id = routeId(spec.app, spec.environment);
    if (expected) {
      let version = expected.version;
      for (let attempt = 0; ; attempt++) {
        const res = await this.admin.request('PATCH', `/id/${id}`, caddyRoute(spec), version);
        if (res.status === 200) break;
        if (res.status === 404) throw conflict(spec);
        if (res.status !== 412) throw new AdminError(`PATCH /id/${id}`, res);
        const now = await this.read(spec.app, spec.environment);
        if (!now || !sameRoute(now, expected) || attempt >= MOVED_RETRIES) throw conflict(spec);
        version = now.version;
      }
    } else {
      await this.create(spec);
    }
    const now = await this.read(spec.app, spec.environment);
    // Someone else may have written between our write and this read.
    if (!now || !sameRoute(now, spec)) throw conflict(spec, true);
    return now;
  }

  /**
   * The first route of an environment, maybe in an empty Caddy: the whole
   * config is replaced in one request guarded by its ETag. A concurrent
   * change of anything else is retried on the new config (adding our route
   * to it is still right); the same route created concurrently is a conflict.
   * A host on a listen address belongs to one environment: a route that
   * would answer for another's host is refused before anything is written.
   */
  private async create(spec: RouteSpec): Promise<void> {
    const id = routeId(spec.app, spec.environment);
    for (let attempt = 0; attempt < 5; attempt++) {
      const { value, etag } = await this.admin.get('/config/');
      const config = (isObject(value) ? value : {}) as CaddyConfig & Record<string, unknown>;
      const apps = config.apps ?? {};
      const httpApp = apps.http ?? {};
      const servers = httpApp.servers ?? {};
      config.apps = { ...apps, http: { ...httpApp, servers } };
      if (JSON.stringify(servers).includes(JSON.stringify(id))) throw conflict(spec);
      let server = Object.values(servers).find((s) =>
        (s.listen ?? []).some((l) => sameListen(l, spec.listen)),
      );
      if (server) checkHostsFree(server, spec);
      else {
        server = newServer(spec.listen) as CaddyServer;
        servers[serverName(spec.listen)] = server;
      }
      server.routes ??= [];
      // Routes for named hosts go before the first catch-all, so it does not shadow them; the
      // routes already there keep their indexes (their ETags), except the catch-all's.
      const catchAll = server.routes.findIndex((r) => hostsOf(r)?.length === 0);
      if (spec.hosts.length > 0 && catchAll >= 0) server.routes.splice(catchAll, 0, caddyRoute(spec));
      else server.routes.push(caddyRoute(spec));
      const res = await this.admin.request('PATCH', '/config/', config, etag);
      if (res.status === 200) return;
      if (res.status !== 412) throw new AdminError('PATCH /config/', res);
    }
    throw conflict(spec);
  }

  /**
   * Removes the route; then the server it was on, when anew created that
   * server for it and no route is left there (an empty server would keep
   * its port listening for nothing).
   */
  async remove(expected: RouteState): Promise<void> {
    const id = routeId(expected.app, expected.environment);
    let version = expected.version;
    for (let attempt = 0; ; attempt++) {
      const res = await this.admin.request('DELETE', `/id/${id}`, undefined, version);
      if (res.status === 200 || res.status === 404) break;
      if (res.status !== 412) throw new AdminError(`DELETE /id/${id}`, res);
      const now = await this.read(expected.app, expected.environment);
      if (!now) break;
      if (!sameRoute(now, expected) || attempt >= MOVED_RETRIES) throw conflict(expected);
      version = now.version;
    }
    await this.removeEmptyServer(serverName(expected.listen), expected.listen);
  }

  private async removeEmptyServer(name: string, listen: string): Promise<void> {
    const path = `/config/apps/http/servers/${encodeURIComponent(name)}`;
    const res = await this.admin.request('GET', path);
    if (res.status !== 200) return;
    const server = this.admin.json(`GET ${path}`, res) as CaddyServer | null;
    if (!server || (server.routes ?? []).length > 0) return;
    if (!(server.listen ?? []).every((l) => sameListen(l, listen))) return;
    // Guarded by the server's ETag: a route added meanwhile keeps the server.
    const del = await this.admin.request('DELETE', path, undefined, res.etag);
    if (del.status !== 200 && del.status !== 412 && del.status !== 404)
      throw new AdminError(`DELETE ${path}`, del);
  }

  private async servers(): Promise<Record<string, CaddyServer>> {
    const { value } = await this.admin.get('/config/');
    const servers = (value as CaddyConfig | null)?.apps?.http?.servers;
    return isObject(servers) ? (servers as Record<string, CaddyServer>) : {};
  }

  /** Automatic HTTPS is on for :443 only (see route.ts): a certificate for every host of the route. */
  servesTls(listen: string): boolean {
    return listen.endsWith(':443');
  }

  publicUrl(listen: string): string {
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i).replace(/^tcp\//, '');
    const port = listen.slice(i + 1);
    const wildcard = host === '' || host === '0.0.0.0' || host === '[::]' || host === '::';
    return `http://${wildcard ? new URL(this.adminUrl).hostname : host}:${port}`;
  }
}

/** Refuses a new route that would answer for a host another route on the same server answers for. */
function checkHostsFree(server: CaddyServer, spec: RouteSpec): void {
  for (const [i, r] of (server.routes ?? []).entries()) {
    const theirs = parseCaddyRoute(r);
    const hosts = theirs?.hosts ?? hostsOf(r);
    // A route of another tool that matches on something else than hosts does not own a host.
    if (!hosts) continue;
    const shared = hostsOverlap(spec.hosts, hosts);
    if (!shared) continue;
    const owner = theirs
      ? `the environment ${theirs.app}/${theirs.environment}`
      : `a route anew did not write (${typeof (r as { '@id'?: unknown })['@id'] === 'string' ? `@id ${(r as { '@id': string })['@id']}` : `route ${i}`})`;
    throw new UserError(
      `${spec.app}/${spec.environment} cannot be served on ${spec.listen} for ${shared}: ${owner} already serves ${shared === 'any host' ? 'every host' : 'it'} there; nothing was changed`,
      shared === 'any host'
        ? 'Give this environment its own hosts, or another listen address'
        : 'Use other hosts or another listen address, or retire that environment first (cleanup with all)',
    );
  }
}

function sameRoute(a: RouteSpec, b: RouteSpec): boolean {
  return canonicalJson(caddyRoute(a)) === canonicalJson(caddyRoute(b));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function conflict(spec: Pick<RouteSpec, 'app' | 'environment'>, applied = false): RouteConflictError {
  return new RouteConflictError(
    applied
      ? `the route of ${spec.app}/${spec.environment} was changed by another writer (another flip or rollback) right after this one wrote it`
      : `the route of ${spec.app}/${spec.environment} changed concurrently (another flip or rollback won), so this change was not made`,
    undefined,
    applied,
  );
}
