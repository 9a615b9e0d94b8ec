import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BusyboxApp, startBusyboxApp } from '../../../test/fixtures/apps/busybox.ts';
import { freePort, type RunningHaproxy, startHaproxy } from '../../../test/helpers/services.ts';
import { adminTransport } from '../src/routers/admin-transport.ts';
import {
  desiredServers,
  HaproxyRouter,
  markerAddress,
  markerTime,
  metaServerName,
  parseMetaServer,
  parseServerName,
  parseServersState,
  renderListen,
  routeFile,
} from '../src/routers/haproxy/index.ts';
import { type Backend, RouteConflictError, type RouteSpec } from '../src/routers/index.ts';

const b = (release: string, dials: string[], weight: number): Backend => ({
  release,
  target: `t-${release}`,
  dials,
  weight,
});

describe('HAProxy server weights (0–256) for the route’s shares', () => {
  it.each([
    { backends: [b('a', ['a:1'], 100)], want: { 'a:1': 1 } },
    { backends: [b('a', ['a:1'], 90), b('b', ['b:1'], 10)], want: { 'a:1': 9, 'b:1': 1 } },
    { backends: [b('a', ['a:1'], 99), b('b', ['b:1'], 1)], want: { 'a:1': 99, 'b:1': 1 } },
    // Two hosts split their release's share: 50% = 25% + 25%.
    { backends: [b('a', ['a:1', 'a:2'], 50), b('b', ['b:1'], 50)], want: { 'a:1': 1, 'a:2': 1, 'b:1': 2 } },
    // Beyond 256 the ratio is scaled and rounded, and a share never rounds to nothing.
    {
      backends: [b('a', ['a:1', 'a:2', 'a:3'], 1), b('b', ['b:1'], 99)],
      want: { 'a:1': 1, 'a:2': 1, 'a:3': 1, 'b:1': 256 },
    },
    { backends: [b('a', ['a:1'], 0), b('b', ['b:1'], 100)], want: { 'b:1': 1 } },
  ])('$backends.0.weight/$backends.1.weight → $want', ({ backends, want }) => {
    const got = Object.fromEntries(desiredServers(backends).map((s) => [s.dial, s.weight]));
    expect(got).toEqual(want);
  });

  it('names each server by release, target and dial, so HAProxy alone says what serves', () => {
    expect(desiredServers([b('r1', ['h:2', 'h:1'], 100)]).map((s) => s.name)).toEqual([
      'r1.t-r1.0',
      'r1.t-r1.1',
    ]);
    expect(() => desiredServers([b('r.1', ['h:1'], 100)])).toThrow(/cannot name an HAProxy server/);
  });
});

describe('HAProxy frontends', () => {
  const meta = (environment: string, hosts: string[]) => ({
    app: 'web',
    environment,
    hosts,
    listen: ':8080',
    history: [],
    backends: [],
  });
  it('routes host names first (exact and wildcard), and the environment for any host by default', () => {
    const cfg = renderListen(':8080', [meta('any', []), meta('prod', ['Example.com', '*.example.org'])]);
    expect(cfg).toContain('bind :8080');
    expect(cfg).toContain(
      'use_backend anew.web.prod if { req.hdr(host),field(1,:),lower -m str example.com }',
    );
    expect(cfg).toContain(
      'use_backend anew.web.prod if { req.hdr(host),field(1,:),lower -m end .example.org }',
    );
    expect(cfg.indexOf('use_backend')).toBeLessThan(cfg.indexOf('default_backend anew.web.any'));
  });
  it('refuses two environments that would both serve every host on one address', () => {
    expect(() => renderListen(':8080', [meta('a', []), meta('b', [])])).toThrow(
      /would both serve every host/,
    );
  });
  it('carries the route’s description in a server name HAProxy accepts, and back', () => {
    const meta = {
      app: 'web',
      environment: 'p',
      hosts: ['a.example.com'],
      listen: ':80',
      history: ['r0'],
      backends: [b('r1', ['h:1'], 100)],
    };
    const name = metaServerName(7, meta);
    expect(name).toMatch(/^anew-route\.7\.[A-Za-z0-9_-]+$/);
    expect(parseMetaServer(name)).toEqual({ version: 7, meta });
    expect(parseServerName(name)).toBeUndefined();
    expect(parseServerName('r1.anew-web-p-1a2b-3fa9c2.0')).toEqual({
      release: 'r1',
      target: 'anew-web-p-1a2b-3fa9c2',
      index: 0,
    });
  });

  it('writes when a lock was taken in the address of its marker, to the second', () => {
    for (const at of [new Date('2026-12-01T01:02:03Z'), new Date('2038-01-19T03:14:08Z'), new Date(0)])
      expect(markerTime(markerAddress(at))).toEqual(at);
    expect(markerAddress(new Date('2026-12-01T01:02:03Z'))).toMatch(/^127\.\d+\.\d+\.\d+:\d+$/);
  });

  it('reads show servers state', () => {
    const out =
      '1\n# be_id be_name srv_id srv_name srv_addr ...\n2 anew.web.prod 2 r1.t-r1.0 127.0.0.1 2 0 7 5 2 1 0 0 0 0 0 0 - 9001 - 0 0 - - 0\n';
    expect(parseServersState(out)).toEqual([
      { backend: 'anew.web.prod', name: 'r1.t-r1.0', dial: '127.0.0.1:9001', op: 2, admin: 0, weight: 7 },
    ]);
  });
});

/** One GET on a fresh connection (fetch does not let a test set Host). */
function get(url: string, host?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body.trim()));
    });
    req.on('error', reject);
  });
}

describe('HaproxyRouter against the real HAProxy 2.6 (master-worker, master CLI)', () => {
  let haproxy: RunningHaproxy;
  let router: HaproxyRouter;
  const apps: BusyboxApp[] = [];
  let listen: string;

  beforeAll(async () => {
    haproxy = await startHaproxy();
    router = new HaproxyRouter(adminTransport(haproxy.master), haproxy.configDir);
    listen = `127.0.0.1:${await freePort()}`;
    for (const v of ['blue', 'green', 'other']) apps.push(await startBusyboxApp(v));
  });
  afterAll(async () => {
    for (const a of apps) await a.stop();
    await haproxy?.stop();
  });

  const spec = (backends: Backend[], history: string[] = []): RouteSpec => ({
    app: 'web',
    environment: 'production',
    hosts: [],
    listen,
    backends,
    history,
  });
  const blue = (w: number) => b('blue', [apps[0]!.dial], w);
  const green = (w: number) => b('green', [apps[1]!.dial], w);
  const through = async (n: number, host?: string) => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const body = await get(`http://${listen}/`, host);
      counts[body] = (counts[body] ?? 0) + 1;
    }
    return counts;
  };

  it('creates the first route with a reload, and reads it back from HAProxy alone', async () => {
    expect(await router.read('web', 'production')).toBeUndefined();
    const state = await router.write(spec([blue(100)]), undefined);
    expect(state).toEqual({ ...spec([blue(100)]), version: '1' });
    // No file is read: with anew's folder moved away, HAProxy still says the whole route.
    const file = path.join(haproxy.configDir, routeFile('web', 'production'));
    fs.renameSync(file, `${file}.away`);
    try {
      expect(await router.read('web', 'production')).toEqual(state);
      expect(await router.list('web')).toEqual([state]);
    } finally {
      fs.renameSync(`${file}.away`, file);
    }
    expect(await through(3)).toEqual({ blue: 3 });
    expect(fs.readFileSync(path.join(haproxy.configDir, routeFile('web', 'production')), 'utf8')).toContain(
      `server blue.t-blue.0 ${apps[0]!.dial} weight 1`,
    );
  });

  it('moves traffic through the runtime API: canary weights measured, no reload', async () => {
    const reloads = (await router.cli.reloads()).reloads;
    let state = (await router.read('web', 'production'))!;
    state = await router.write(spec([blue(90), green(10)]), state);
    expect(state.version).toBe('2');
    // Round robin keeps its place in the cycle across a weight change: the first cycle may be off by one.
    const split = await through(100);
    expect(split['blue']! + split['green']!).toBe(100);
    expect(Math.abs(split['green']! - 10)).toBeLessThanOrEqual(1);
    state = await router.write(spec([green(100)], ['blue']), state);
    expect(await through(5)).toEqual({ green: 5 });
    expect(state.history).toEqual(['blue']);
    expect((await router.cli.reloads()).reloads).toBe(reloads);
    expect(await router.dials('web', 'production')).toEqual([apps[1]!.dial]);
  });

  it('lets exactly one of two writers from the same version win; the other changes nothing', async () => {
    const a = new HaproxyRouter(adminTransport(haproxy.master), haproxy.configDir);
    const c = new HaproxyRouter(adminTransport(haproxy.master), haproxy.configDir);
    const seen = (await a.read('web', 'production'))!;
    const results = await Promise.allSettled([
      a.write(spec([blue(100)], ['green']), seen),
      c.write(spec([b('other', [apps[2]!.dial], 100)], ['green']), seen),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(RouteConflictError);
    const live = (await a.read('web', 'production'))!;
    const winner = (won[0] as PromiseFulfilledResult<{ backends: Backend[] }>).value.backends[0]!.release;
    expect(live.backends.map((x) => x.release)).toEqual([winner]);
    expect(await through(4)).toEqual({ [winner]: 4 });
    // A writer from a version already replaced is refused too, and changes nothing.
    await expect(a.write(spec([green(100)]), seen)).rejects.toThrow(/changed concurrently/);
    expect(await through(2)).toEqual({ [winner]: 2 });
  });

  it('after a restart, HAProxy serves the routing anew last set', async () => {
    let state = (await router.read('web', 'production'))!;
    state = await router.write(spec([blue(80), green(20)], ['other']), state);
    await haproxy.restart();
    const after = (await router.read('web', 'production'))!;
    expect(after).toEqual(state);
    expect(await through(50)).toEqual({ blue: 40, green: 10 });
  });

  it('adds an environment with hosts beside it, routes by Host, and lists both', async () => {
    const preview: RouteSpec = {
      app: 'web',
      environment: 'preview',
      hosts: ['preview.example.com'],
      listen,
      backends: [b('other', [apps[2]!.dial], 100)],
      history: [],
    };
    await router.write(preview, undefined);
    expect(await through(5, 'preview.example.com')).toEqual({ other: 5 });
    expect(await through(10)).toEqual({ blue: 8, green: 2 });
    expect((await router.list('web')).map((r) => r.environment).sort()).toEqual(['preview', 'production']);
    await expect(router.write(preview, undefined)).rejects.toThrow(RouteConflictError);
  });

  it('refuses a host another environment serves on that address, and changes nothing', async () => {
    const files = fs.readdirSync(haproxy.configDir).sort();
    const thief: RouteSpec = {
      app: 'web',
      environment: 'thief',
      hosts: ['PREVIEW.example.com', 'thief.example.com'],
      listen,
      backends: [b('blue', [apps[0]!.dial], 100)],
      history: [],
    };
    await expect(router.write(thief, undefined)).rejects.toThrow(
      /web\/thief cannot be served on .* for PREVIEW\.example\.com: the environment web\/preview already serves it/,
    );
    expect(await router.read('web', 'thief')).toBeUndefined();
    expect(fs.readdirSync(haproxy.configDir).sort()).toEqual(files);
    expect(await through(3, 'preview.example.com')).toEqual({ other: 3 });
  });

  it('lets exactly one of two writers create the same environment', async () => {
    const race = { ...spec([blue(100)]), environment: 'race', hosts: ['race.example.com'] };
    const results = await Promise.allSettled([
      new HaproxyRouter(adminTransport(haproxy.master), haproxy.configDir).write(race, undefined),
      new HaproxyRouter(adminTransport(haproxy.master), haproxy.configDir).write(race, undefined),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
      RouteConflictError,
    );
    await router.remove((await router.read('web', 'race'))!);
    expect(await router.read('web', 'race')).toBeUndefined();
  });

  it('refuses a configuration HAProxy cannot load, puts its files back, and keeps serving', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const busy = `127.0.0.1:${(taken.address() as net.AddressInfo).port}`;
    const before = fs.readdirSync(haproxy.configDir).sort();
    try {
      await expect(
        router.write({ ...spec([blue(100)]), environment: 'clash', listen: busy }, undefined),
      ).rejects.toThrow(/refused the new configuration/);
    } finally {
      taken.close();
    }
    expect(fs.readdirSync(haproxy.configDir).sort()).toEqual(before);
    expect(await through(10)).toEqual({ blue: 8, green: 2 });
    expect(await router.read('web', 'clash')).toBeUndefined();
  });

  it('refuses while another write holds the lock, and takes over a lock a killed writer left', async () => {
    const before = (await router.read('web', 'production'))!;
    const next = Number(before.version) + 1;
    const lock = (at: Date) =>
      router.cli.worker(`add server anew.web.production/anew-version.${next} ${markerAddress(at)} weight 0`);
    expect(await lock(new Date())).toMatch(/New server registered/);
    await expect(router.write(spec([green(100)], ['blue']), before)).rejects.toThrow(
      /being changed by another writer/,
    );
    expect(await router.read('web', 'production')).toEqual(before);
    await router.cli.worker(`del server anew.web.production/anew-version.${next}`);
    expect(await lock(new Date(Date.now() - 10 * 60_000))).toMatch(/New server registered/);
    const after = await router.write(spec([blue(80), green(20)], ['other', 'x']), before);
    expect(after.version).toBe(String(next));
    expect(after.history).toEqual(['other', 'x']);
    expect(await through(10)).toEqual({ blue: 8, green: 2 });
  });

  it('removes a route', async () => {
    await router.remove((await router.read('web', 'preview'))!);
    expect(await router.read('web', 'preview')).toBeUndefined();
    expect(fs.existsSync(path.join(haproxy.configDir, routeFile('web', 'preview')))).toBe(false);
    expect(await through(10)).toEqual({ blue: 8, green: 2 });
  });

  it('says what to do when the master CLI does not answer', async () => {
    const r = new HaproxyRouter(adminTransport(`unix://${haproxy.dir}/nothing.sock`), haproxy.configDir);
    await expect(r.read('web', 'production')).rejects.toThrow(/master CLI .* did not answer.*-W/);
  });
});
