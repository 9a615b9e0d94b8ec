import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningService, startCaddy } from '../../../test/helpers/services.ts';
import { CaddyRouter, caddyRoute, expandWeights, parseCaddyRoute } from '../src/routers/caddy/index.ts';
import { type Backend, RouteConflictError, type RouteSpec } from '../src/routers/index.ts';

const b = (release: string, dials: string[], weight: number): Backend => ({
  release,
  target: `t-${release}`,
  dials,
  weight,
});

describe('weighted upstreams without a weighted policy (Caddy 2.6)', () => {
  it.each([
    { backends: [b('a', ['a:1'], 100)], want: { 'a:1': 1 } },
    { backends: [b('a', ['a:1'], 90), b('b', ['b:1'], 10)], want: { 'a:1': 9, 'b:1': 1 } },
    { backends: [b('a', ['a:1'], 50), b('b', ['b:1'], 50)], want: { 'a:1': 1, 'b:1': 1 } },
    { backends: [b('a', ['a:1'], 99), b('b', ['b:1'], 1)], want: { 'a:1': 99, 'b:1': 1 } },
    // Two hosts split their release's share: 50% = 25% + 25%.
    { backends: [b('a', ['a:1', 'a:2'], 50), b('b', ['b:1'], 50)], want: { 'a:1': 1, 'a:2': 1, 'b:1': 2 } },
    { backends: [b('a', ['a:1'], 0), b('b', ['b:1'], 100)], want: { 'b:1': 1 } },
  ])('$backends.0.weight/$backends.1.weight → $want', ({ backends, want }) => {
    const list = expandWeights(backends);
    const counts: Record<string, number> = {};
    for (const d of list) counts[d] = (counts[d] ?? 0) + 1;
    expect(counts).toEqual(want);
  });

  it('interleaves, so a short window already sees the split', () => {
    const list = expandWeights([b('a', ['a'], 50), b('b', ['b'], 50)]);
    expect(list).toEqual(['a', 'b']);
    const ten = expandWeights([b('a', ['a'], 80), b('b', ['b'], 20)]);
    expect(ten.filter((d) => d === 'b')).toHaveLength(1);
    expect(ten).toHaveLength(5);
  });
});

describe('route JSON', () => {
  const spec: RouteSpec = {
    app: 'web',
    environment: 'production',
    hosts: ['example.com'],
    listen: ':8080',
    backends: [b('r2', ['127.0.0.1:20002'], 10), b('r1', ['127.0.0.1:20001'], 90)],
    history: ['r0'],
  };
  it('round-trips through the vars that describe it', () => {
    const route = caddyRoute(spec);
    expect(route['@id']).toBe('anew.web.production');
    expect(route.match).toEqual([{ host: ['example.com'] }]);
    expect(parseCaddyRoute(JSON.parse(JSON.stringify(route)))).toEqual(spec);
  });
  it('is not anew’s without its vars', () => {
    expect(parseCaddyRoute({ handle: [{ handler: 'static_response' }] })).toBeUndefined();
  });
});

describe('CaddyRouter against the real Caddy', () => {
  let caddy: RunningService & { admin: string };
  const servers: http.Server[] = [];
  const dials: string[] = [];
  let listen: string;

  beforeAll(async () => {
    caddy = await startCaddy();
    listen = `127.0.0.1:${await freePort()}`;
    for (const name of ['blue', 'green']) {
      const s = http.createServer((_req, res) => res.end(name));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      dials.push(`127.0.0.1:${(s.address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await caddy?.stop();
  });

  const spec = (backends: Backend[]): RouteSpec => ({
    app: 'web',
    environment: 'production',
    hosts: [],
    listen,
    backends,
    history: [],
  });
  const through = async (n: number) => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      // A fresh connection each: Caddy closes idle keep-alive connections at every config change.
      const body = await (await fetch(`http://${listen}/`, { headers: { connection: 'close' } })).text();
      counts[body] = (counts[body] ?? 0) + 1;
    }
    return counts;
  };

  it('creates the first route in an empty Caddy, and gives an ETag', async () => {
    const router = new CaddyRouter(caddy.admin);
    expect(await router.read('web', 'production')).toBeUndefined();
    const state = await router.write(spec([b('blue', [dials[0]!], 100)]), undefined);
    expect(state.version).toMatch(/^"\/config\/apps\/http\/servers\/\S+\/routes\/0 [0-9a-f]+"$/);
    expect(await through(3)).toEqual({ blue: 3 });
  });

  it('lets one of two writers holding the same version win; the other changes nothing (If-Match → 412)', async () => {
    const a = new CaddyRouter(caddy.admin);
    const c = new CaddyRouter(caddy.admin);
    const seenByA = (await a.read('web', 'production'))!;
    const seenByC = (await c.read('web', 'production'))!;
    expect(seenByA.version).toBe(seenByC.version);
    await a.write(spec([b('green', [dials[1]!], 100)]), seenByA);
    await expect(c.write(spec([b('blue', [dials[0]!], 100)]), seenByC)).rejects.toThrow(RouteConflictError);
    await expect(c.write(spec([b('blue', [dials[0]!], 100)]), seenByC)).rejects.toThrow(
      /changed concurrently/,
    );
    expect((await a.read('web', 'production'))!.backends.map((x) => x.release)).toEqual(['green']);
    expect(await through(3)).toEqual({ green: 3 });
  });

  it('refuses to create a route another writer created meanwhile', async () => {
    const r = new CaddyRouter(caddy.admin);
    await expect(r.write(spec([b('blue', [dials[0]!], 100)]), undefined)).rejects.toThrow(RouteConflictError);
  });

  it('splits traffic in the weighted proportions, measured through the real Caddy', async () => {
    const r = new CaddyRouter(caddy.admin);
    let state = (await r.read('web', 'production'))!;
    state = await r.write(spec([b('blue', [dials[0]!], 90), b('green', [dials[1]!], 10)]), state);
    expect(await through(200)).toEqual({ blue: 180, green: 20 });
    state = await r.write(spec([b('blue', [dials[0]!], 50), b('green', [dials[1]!], 50)]), state);
    expect(await through(200)).toEqual({ blue: 100, green: 100 });
  });

  it('lists anew routes, reads the dials the proxy uses, and removes a route', async () => {
    const r = new CaddyRouter(caddy.admin);
    expect((await r.list('web')).map((x) => x.environment)).toEqual(['production']);
    expect((await r.dials('web', 'production')).sort()).toEqual([...dials].sort());
    await r.remove((await r.read('web', 'production'))!);
    expect(await r.read('web', 'production')).toBeUndefined();
  });

  it('a route added or removed before ours is no conflict: our ETag moved, our route did not', async () => {
    const r = new CaddyRouter(caddy.admin);
    const other = (environment: string, host: string): RouteSpec => ({
      ...spec([b('green', [dials[1]!], 100)]),
      environment,
      hosts: [host],
    });
    // The catch-all of the listen address, then host routes that go before it.
    await r.write(spec([b('blue', [dials[0]!], 100)]), undefined);
    let seen = (await r.read('web', 'production'))!;
    await r.write(other('pr-1', 'pr-1.example'), undefined);
    seen = await r.write(spec([b('green', [dials[1]!], 100)]), seen);
    expect(seen.backends.map((x) => x.release)).toEqual(['green']);
    await r.write(other('pr-2', 'pr-2.example'), undefined);
    await r.remove((await r.read('web', 'pr-1'))!);
    seen = await r.write(spec([b('blue', [dials[0]!], 100)]), seen);
    expect(await through(2)).toEqual({ blue: 2 });
    // A real change of our route is still a conflict.
    await r.write(spec([b('green', [dials[1]!], 100)]), seen);
    await expect(r.write(spec([b('blue', [dials[0]!], 100)]), seen)).rejects.toThrow(/changed concurrently/);
    await r.remove((await r.read('web', 'pr-2'))!);
    await r.remove((await r.read('web', 'production'))!);
  });

  it("refuses a route that would answer for another environment's host; a host route goes before the catch-all", async () => {
    const r = new CaddyRouter(caddy.admin);
    const on = (app: string, environment: string, hosts: string[], dial: string): RouteSpec => ({
      app,
      environment,
      hosts,
      listen,
      backends: [b(environment, [dial], 100)],
      history: [],
    });
    await r.write(on('a', 'prod', ['Prod.Example'], dials[0]!), undefined);
    await expect(r.write(on('b', 'pr-666', ['prod.example'], dials[1]!), undefined)).rejects.toThrow(
      /b\/pr-666 cannot be served on .* for prod\.example: the environment a\/prod already serves it there; nothing was changed/,
    );
    await expect(r.write(on('b', 'pr-666', ['*.example'], dials[1]!), undefined)).rejects.toThrow(/a\/prod/);
    await r.write(on('b', 'catch-all', [], dials[1]!), undefined);
    await expect(r.write(on('c', 'catch-all', [], dials[1]!), undefined)).rejects.toThrow(
      /for any host: the environment b\/catch-all already serves every host there/,
    );
    await r.write(on('b', 'pr-7', ['pr-7.example'], dials[1]!), undefined);
    const { value } = await r.admin.get('/config/apps/http/servers');
    const routes = Object.values(value as Record<string, { routes: { '@id': string }[] }>).flatMap((s) =>
      s.routes.map((x) => x['@id']),
    );
    expect(routes).toEqual(['anew.a.prod', 'anew.b.pr-7', 'anew.b.catch-all']);
    for (const [app, environment] of [
      ['a', 'prod'],
      ['b', 'pr-7'],
      ['b', 'catch-all'],
    ] as const)
      await r.remove((await r.read(app, environment))!);
    // The server anew made for the address went with its last route.
    expect(await r.admin.get('/config/apps/http/servers').then((x) => x.value)).toEqual({});
  });

  it('says where the admin API is when it does not answer', async () => {
    const r = new CaddyRouter(`http://127.0.0.1:${await freePort()}`);
    await expect(r.read('web', 'production')).rejects.toThrow(/admin API at .* did not answer/);
  });
});
