import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { answer, routeOf } from './fixtures/apps/world.ts';
import { NODE24, runAction } from './helpers/action.ts';
import { freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * Who owns a route, and what the router says: with the committed bundles,
 * the real engine and a real Caddy, and small loopback servers standing in
 * for a router that answers what anew did not write.
 */
const appA = 'e2e-routes-a';
const appB = 'e2e-routes-b';
let v1: TestImage;
let v2: TestImage;
let caddy: RunningService & { admin: string };

beforeAll(async () => {
  v1 = buildAppImage('anew-test/e2e-routes', { version: 'v1' });
  v2 = buildAppImage('anew-test/e2e-routes', { version: 'v2' });
  caddy = await startCaddy();
});

afterAll(async () => {
  // appB's preview runs v2 too: its containers go first, or forcing v2 away would only untag it
  // and leave the image behind once they are gone.
  removeApp(appB, []);
  removeApp(appA, [v1, v2].filter(Boolean));
  await caddy?.stop();
});

/** A GET with a Host header (fetch may not set one). */
function get(listen: string, host: string): Promise<string> {
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
      })
      .on('error', reject);
  });
}

async function deploy(app: string, environment: string, image: TestImage) {
  const d = await runAction('deploy', {
    app,
    environment,
    'docker-host': services.dockerHost,
    image: image.image,
    keep: '5',
  });
  expect(d.code, d.log).toBe(0);
  return { target: d.outputs['target']!, release: d.outputs['release']! };
}

/** True when something accepts connections on the address. */
function listening(listen: string): Promise<boolean> {
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The log printed no stack trace (a refusal, not a crash). */
function noStack(log: string) {
  expect(log).not.toMatch(/^\s+at .+\(.*:\d+:\d+\)$/m);
}

describe('a host on a listen address belongs to one environment of one app', () => {
  it('refuses a flip of another app that would take it, naming the owner; nothing changes', async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const hosts = 'prod.example.localhost';
    const prod = await deploy(appA, 'prod', v1);
    const f = await runAction('flip', {
      app: appA,
      environment: 'prod',
      'docker-host': services.dockerHost,
      'router-url': caddy.admin,
      listen,
      hosts,
      target: prod.target,
    });
    expect(f.code, f.log).toBe(0);
    expect(await get(listen, hosts)).toBe('200 v1');

    const preview = await deploy(appB, 'pr-666', v2);
    const routing = {
      app: appB,
      environment: 'pr-666',
      'docker-host': services.dockerHost,
      'router-url': caddy.admin,
      listen,
      target: preview.target,
    };
    const steal = await runAction('flip', { ...routing, hosts: `www.example.localhost,${hosts}` });
    expect(steal.code).not.toBe(0);
    expect(steal.log).toMatch(
      /::error::anew\/flip: e2e-routes-b\/pr-666 cannot be served on 127\.0\.0\.1:\d+ for prod\.example\.localhost: the environment e2e-routes-a\/prod already serves it there; nothing was changed/,
    );
    noStack(steal.log);
    expect(await routeOf(caddy.admin, appB, 'pr-666')).toBeUndefined();
    expect(await get(listen, hosts)).toBe('200 v1');

    // A wildcard that covers the host takes it just the same.
    const wildcard = await runAction('flip', { ...routing, hosts: '*.example.localhost' });
    expect(wildcard.code).not.toBe(0);
    expect(wildcard.log).toMatch(/the environment e2e-routes-a\/prod already serves it there/);
    expect(await get(listen, hosts)).toBe('200 v1');

    // Its own host on the same address is its own.
    const own = await runAction('flip', { ...routing, hosts: 'pr-666.example.localhost' });
    expect(own.code, own.log).toBe(0);
    expect(await get(listen, 'pr-666.example.localhost')).toBe('200 v2');
    expect(await get(listen, hosts)).toBe('200 v1');
  });
});

describe('defaults that follow the live route', () => {
  it('rolls back with only the environment after a flip on another listen address and hosts', async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const where = {
      app: appA,
      environment: 'follow',
      'docker-host': services.dockerHost,
      'router-url': caddy.admin,
    };
    const host = 'follow.example.localhost';
    const r1 = await deploy(appA, 'follow', v1);
    const f1 = await runAction('flip', { ...where, listen, hosts: host, target: r1.target });
    expect(f1.code, f1.log).toBe(0);
    const r2 = await deploy(appA, 'follow', v2);
    // The next flip names neither: it keeps the route's address and hosts.
    const f2 = await runAction('flip', { ...where, target: r2.target }, { node: NODE24 });
    expect(f2.code, f2.log).toBe(0);
    expect(f2.log).toContain(`Route e2e-routes-a/follow on ${listen} for ${host}:`);
    expect(f2.summary).toContain(`${listen} ${host}`);
    expect(await get(listen, host)).toBe('200 v2');

    const back = await runAction('rollback', where);
    expect(back.code, back.log).toBe(0);
    expect(back.outputs['release']).toBe(r1.release);
    expect(await get(listen, host)).toBe('200 v1');
    const route = (await routeOf(caddy.admin, appA, 'follow')) as { match?: { host: string[] }[] };
    expect(route.match).toEqual([{ host: [host] }]);

    // An explicit value that differs is still refused, and changes nothing.
    const other = await runAction('rollback', { ...where, hosts: 'other.example.localhost', to: r2.release });
    expect(other.code).not.toBe(0);
    expect(other.log).toMatch(
      /is served for hosts follow\.example\.localhost, not hosts other\.example\.localhost/,
    );
    expect(await get(listen, host)).toBe('200 v1');

    // Retiring it leaves no empty server listening on its address.
    expect(await listening(listen)).toBe(true);
    const c = await runAction('cleanup', { ...where, all: 'true' });
    expect(c.code, c.log).toBe(0);
    expect(await routeOf(caddy.admin, appA, 'follow')).toBeUndefined();
    const servers = (await (await fetch(`${caddy.admin}/config/apps/http/servers`)).json()) as Record<
      string,
      { listen: string[] }
    >;
    expect(Object.values(servers ?? {}).flatMap((s) => s.listen)).not.toContain(listen);
    expect(await listening(listen)).toBe(false);
  });
});

describe('a router answer anew did not write', () => {
  const flipWith = (routerUrl: string, environment = 'stray') =>
    runAction('flip', {
      app: appA,
      environment,
      'docker-host': services.dockerHost,
      'router-url': routerUrl,
      listen: '127.0.0.1:1',
      target: 'no-such-target',
    });

  it('a route under anew’s @id that anew did not write is refused, without a stack trace', async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    // Another tool's route under the id anew would give the environment, added beside what is there.
    const config = ((await (await fetch(`${caddy.admin}/config/`)).json()) ?? {}) as {
      apps?: { http?: { servers?: Record<string, unknown> } };
    };
    config.apps ??= {};
    config.apps.http ??= {};
    config.apps.http.servers ??= {};
    config.apps.http.servers['theirs'] = {
      listen: [listen],
      routes: [{ '@id': `anew.${appA}.foreign`, handle: [{ handler: 'static_response', body: 'not anew' }] }],
    };
    const put = await fetch(`${caddy.admin}/config/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    expect(put.status, await put.text()).toBe(200);
    const f = await flipWith(caddy.admin, 'foreign');
    expect(f.code).not.toBe(0);
    expect(f.log).toMatch(
      /::error::anew\/flip: the route with @id anew\.e2e-routes-a\.foreign in Caddy at .* was not written by anew/,
    );
    noStack(f.log);
    expect(await answer(`http://${listen}/`)).toBe('200 not anew');
  });

  it('an HTML page instead of the admin API is refused, without a stack trace', async () => {
    const page = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body>Welcome to nginx!</body></html>');
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    try {
      const f = await flipWith(`http://127.0.0.1:${(page.address() as net.AddressInfo).port}`);
      expect(f.code).not.toBe(0);
      expect(f.log).toMatch(
        /::error::anew\/flip: Caddy's admin API at .* answered 200 with something that is not JSON/,
      );
      noStack(f.log);
    } finally {
      await new Promise((r) => page.close(r));
    }
  });

  it('an endless answer is read up to a few MiB, then refused', async () => {
    let sent = 0;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const limit = 256 * 1024 * 1024;
    const huge = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const pump = () => {
        while (!closed && sent < limit) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!closed) res.end('{}');
      };
      pump();
    });
    await new Promise<void>((r) => huge.listen(0, '127.0.0.1', r));
    try {
      const f = await flipWith(`http://127.0.0.1:${(huge.address() as net.AddressInfo).port}`);
      expect(f.code).not.toBe(0);
      expect(f.log).toMatch(/::error::anew\/flip: Caddy's admin API at .* answered more than 8 MiB/);
      noStack(f.log);
      // The bound is on what the runner took in: the server could send little beyond it.
      expect(sent).toBeLessThan(64 * 1024 * 1024);
    } finally {
      huge.closeAllConnections();
      await new Promise((r) => huge.close(r));
    }
  });

  it('an answer that trickles in forever meets the deadline of the whole request', async () => {
    const timers = new Set<NodeJS.Timeout>();
    const slow = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let n = 0;
      // Bounded: 400 bytes over 80 s at most, far beyond the deadline.
      const t = setInterval(() => {
        if (++n > 400 || res.destroyed) {
          clearInterval(t);
          res.end();
        } else res.write(' ');
      }, 200);
      timers.add(t);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const f = await flipWith(`http://127.0.0.1:${(slow.address() as net.AddressInfo).port}`);
      expect(f.code).not.toBe(0);
      expect(f.log).toMatch(/::error::anew\/flip: Caddy's admin API at .* did not answer within 15 s/);
      noStack(f.log);
    } finally {
      for (const t of timers) clearInterval(t);
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });
});
