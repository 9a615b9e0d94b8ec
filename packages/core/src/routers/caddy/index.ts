import type { AdminTransport } from '../admin-transport.ts';
import { RouteConflictError, type Router, type RouteSpec, type RouteState } from '../index.ts';
import { AdminError, CaddyAdmin } from './admin.ts';
import {
  caddyRoute,
  canonicalJson,
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

interface CaddyConfig {
  apps?: { http?: { servers?: Record<string, { listen?: string[]; routes?: unknown[] }> } };
}

/**
 * Caddy through its admin API. A route is addressed by its @id; every change
 * is one request guarded by If-Match with the ETag read before, so two
 * writers racing on one environment cannot both win (Caddy answers 412 to
 * the second, checked against the real Caddy in routers-caddy.test.ts).
 */
export class CaddyRouter implements Router {
  readonly admin: CaddyAdmin;
  constructor(
    readonly adminUrl: string,
    transport?: AdminTransport,
  ) {
    this.admin = new CaddyAdmin(adminUrl, transport);
  }

  async read(app: string, environment: string): Promise<RouteState | undefined> {
    const res = await this.admin.request('GET', `/id/${routeId(app, environment)}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new AdminError(`GET /id/${routeId(app, environment)}`, res);
    const spec = parseCaddyRoute(JSON.parse(res.body));
    if (!spec) throw new Error(`route ${routeId(app, environment)} in Caddy was not written by anew`);
    return { ...spec, version: res.etag ?? '' };
  }

  /** The dials the proxy of a route really uses. */
  async dials(app: string, environment: string): Promise<string[]> {
    const res = await this.admin.request('GET', `/id/${routeId(app, environment)}`);
    return res.status === 200 ? proxiedDials(JSON.parse(res.body)) : [];
  }

  async list(app?: string): Promise<RouteState[]> {
    const { value } = await this.admin.get('/config/');
    const out: RouteState[] = [];
    for (const server of Object.values((value as CaddyConfig | null)?.apps?.http?.servers ?? {})) {
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
      const res = await this.admin.request('PATCH', `/id/${id}`, caddyRoute(spec), expected.version);
      if (res.status === 412 || res.status === 404) throw conflict(spec);
      if (res.status !== 200) throw new AdminError(`PATCH /id/${id}`, res);
    } else {
      await this.create(spec);
    }
    const now = await this.read(spec.app, spec.environment);
    // Someone else may have written between our write and this read.
    if (!now || canonicalJson(caddyRoute(now)) !== canonicalJson(caddyRoute(spec))) throw conflict(spec);
    return now;
  }

  /**
   * The first route of an environment, maybe in an empty Caddy: the whole
   * config is replaced in one request guarded by its ETag. A concurrent
   * change of anything else is retried on the new config (adding our route
   * to it is still right); the same route created concurrently is a conflict.
   */
  private async create(spec: RouteSpec): Promise<void> {
    const id = routeId(spec.app, spec.environment);
    for (let attempt = 0; attempt < 5; attempt++) {
      const { value, etag } = await this.admin.get('/config/');
      const config = (value ?? {}) as CaddyConfig & Record<string, unknown>;
      const apps = config.apps ?? {};
      const httpApp = apps.http ?? {};
      const servers = httpApp.servers ?? {};
      config.apps = { ...apps, http: { ...httpApp, servers } };
      if (JSON.stringify(servers).includes(JSON.stringify(id))) throw conflict(spec);
      let server = Object.values(servers).find((s) =>
        (s.listen ?? []).some((l) => sameListen(l, spec.listen)),
      );
      if (!server) {
        server = newServer(spec.listen) as { listen: string[]; routes: unknown[] };
        servers[serverName(spec.listen)] = server;
      }
      server.routes ??= [];
      // Routes for named hosts go first; a catch-all goes last so it does not shadow them.
      if (spec.hosts.length > 0) server.routes.unshift(caddyRoute(spec));
      else server.routes.push(caddyRoute(spec));
      const res = await this.admin.request('PATCH', '/config/', config, etag);
      if (res.status === 200) return;
      if (res.status !== 412) throw new AdminError('PATCH /config/', res);
    }
    throw conflict(spec);
  }

  async remove(expected: RouteState): Promise<void> {
    const id = routeId(expected.app, expected.environment);
    const res = await this.admin.request('DELETE', `/id/${id}`, undefined, expected.version);
    if (res.status === 412) throw conflict(expected);
    if (res.status !== 200 && res.status !== 404) throw new AdminError(`DELETE /id/${id}`, res);
  }

  publicUrl(listen: string): string {
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i).replace(/^tcp\//, '');
    const port = listen.slice(i + 1);
    const wildcard = host === '' || host === '0.0.0.0' || host === '[::]' || host === '::';
    return `http://${wildcard ? new URL(this.adminUrl).hostname : host}:${port}`;
  }
}

function conflict(spec: Pick<RouteSpec, 'app' | 'environment'>): RouteConflictError {
  return new RouteConflictError(
    `the route of ${spec.app}/${spec.environment} changed concurrently (another flip or rollback won); nothing was changed by this one. Run status to see what is live, then retry if it is still needed`,
  );
}
