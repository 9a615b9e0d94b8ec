import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type Settings } from '../packages/core/src/config/index.ts';
import { ConsoleLogger } from '../packages/core/src/log/index.ts';
import { flip } from '../packages/core/src/release/flip.ts';
import type { Infra } from '../packages/core/src/release/infra.ts';
import { rollback } from '../packages/core/src/release/rollback.ts';
import { adminTransport } from '../packages/core/src/routers/admin-transport.ts';
import { HaproxyRouter } from '../packages/core/src/routers/haproxy/index.ts';
import { RouteConflictError } from '../packages/core/src/routers/index.ts';
import { BusyboxEngine } from './fixtures/apps/busybox.ts';
import { startLoad } from './fixtures/apps/load.mjs';
import { freePort, type RunningHaproxy, startHaproxy } from './helpers/services.ts';

/**
 * Issue 8's bar: clients that never retry (keep-alive, GETs and POSTs) lose
 * nothing on HAProxy across a blue-green switch, three canary steps, a
 * rollback and two racing flips, nor do another environment's clients on
 * the same address, while two environments are added, on that address and
 * on a new one (the changes that reload). Driven through the release functions over the Router interface,
 * with busybox httpd processes as targets.
 */
describe('hitless flips on HAProxy for clients that never retry', () => {
  let haproxy: RunningHaproxy;
  const engine = new BusyboxEngine();
  const lines: string[] = [];
  let infra: Infra;
  let settings: Settings;

  beforeAll(async () => {
    haproxy = await startHaproxy();
    const log = new ConsoleLogger((l) => lines.push(l));
    infra = {
      engines: [engine],
      router: new HaproxyRouter(adminTransport(haproxy.master), haproxy.configDir, log),
      log,
      close: async () => undefined,
    };
    settings = { ...DEFAULT_SETTINGS, listen: `127.0.0.1:${await freePort()}`, interval: 1000 };
    for (const r of ['v1', 'v2', 'v3']) await engine.add('web', 'production', r);
    await engine.add('web', 'other', 'o1');
    await engine.add('web', 'new', 'n1');
    await engine.add('web', 'elsewhere', 'e1');
  });
  afterAll(async () => {
    await engine.stopAll();
    await haproxy?.stop();
  });

  it('loses no request of at least 20,000, in this environment or another, and exactly one racing flip wins', async () => {
    const run = (environment: string, to: string, extra: Partial<Settings> = {}) =>
      flip(infra, { app: 'web', environment, to, settings: { ...settings, ...extra }, dryRun: false });
    await run('production', 'v1');
    await run('other', 'o1', { hosts: ['other.example.com'] });
    const url = `http://${settings.listen}/`;
    const load = { postEvery: 4, postPath: '/cgi-bin/post', retry: false, maxMs: 150_000 };
    const prod = startLoad(url, { ...load, workers: 4 });
    const other = startLoad(url, { ...load, workers: 2, host: 'other.example.com' });
    const router = infra.router as HaproxyRouter;
    const reloadsBefore = (await router.cli.reloads()).reloads;
    await prod.reach(1500);

    await run('production', 'v2');
    await prod.reach(prod.count() + 1500);
    await run('production', 'v3', { strategy: 'canary', steps: [10, 50, 90, 100] });
    await prod.reach(prod.count() + 1500);
    await rollback(infra, { app: 'web', environment: 'production', settings, dryRun: false });
    await prod.reach(prod.count() + 1500);
    const race = await Promise.allSettled([run('production', 'v1'), run('production', 'v3')]);
    await prod.reach(prod.count() + 1500);
    await run('new', 'n1', { hosts: ['new.example.com'] });
    await prod.reach(prod.count() + 1500);
    const elsewhere = `127.0.0.1:${await freePort()}`;
    await run('elsewhere', 'e1', { listen: elsewhere });
    await prod.reach(20_000);
    const [p, o] = [await prod.stop(), await other.stop()];
    console.info(
      `HAProxy, clients that never retry: production ${p.requests} requests (${p.posts} POST), ${p.failed} failed, ${p.connections} connections; other environment ${o.requests} requests, ${o.failed} failed`,
    );

    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = race.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(RouteConflictError);
    expect(p.requests).toBeGreaterThanOrEqual(20_000);
    expect(p.posts).toBeGreaterThan(4000);
    expect({ failed: p.failed, errors: p.errors }).toEqual({ failed: 0, errors: [] });
    expect(o.requests).toBeGreaterThan(2000);
    expect({ failed: o.failed, errors: o.errors }).toEqual({ failed: 0, errors: [] });
    // The keep-alive connections lived through every traffic change; each of the two
    // reloads ended each at most once, with an answer that said so (idle-close-on-response).
    expect(p.connections).toBeLessThanOrEqual(12);
    expect(o.connections).toBeLessThanOrEqual(6);
    // Every release answered, and the other environment only ever its own.
    for (const v of ['v1', 'v2', 'v3']) expect(p.bodies[v]).toBeGreaterThan(0);
    expect(Object.keys(o.bodies).sort()).toEqual(['o1', 'o1 post']);
    expect(await (await fetch(`http://${elsewhere}/`)).text()).toBe('e1\n');
    // Only adding the two environments reloaded HAProxy; every traffic change went through the runtime API.
    expect((await router.cli.reloads()).reloads).toBe(reloadsBefore + 2);
  });
});
