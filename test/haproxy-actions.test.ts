import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { startLoad } from './fixtures/apps/load.mjs';
import { answer } from './fixtures/apps/world.ts';
import { runAction } from './helpers/action.ts';
import { freePort, type RunningHaproxy, services, startHaproxy } from './helpers/services.ts';

/**
 * The acceptance load test of issue 8 through the committed bundles, as a
 * workflow runs them: `router: haproxy`, real containers on the test engine,
 * a private HAProxy in master-worker mode. Clients that never retry (keep-
 * alive, GETs and POSTs) across deploy, flip, three canary steps, rollback, a
 * flip racing another flip, and a new environment added on the same listen
 * address: not one request of at least 20,000 fails, for this environment or
 * another environment's clients. (test/haproxy-hitless.test.ts is the same
 * through the core, with processes as targets.)
 */
const app = 'e2e-hitless';
const versions = { production: ['v1', 'v2', 'v3'], other: ['o1'], new: ['n1'] } as const;
const images: Record<string, TestImage> = {};
let haproxy: RunningHaproxy;
let listen: string;
const env = { DOCKER_HOST: services.dockerHost };

const routing = () => ({
  app,
  router: 'haproxy',
  'router-url': haproxy.master,
  'router-config': haproxy.configDir,
});

beforeAll(async () => {
  for (const vs of Object.values(versions))
    for (const v of vs) images[v] = buildAppImage(`anew-test/${app}`, { version: v });
  haproxy = await startHaproxy();
  listen = `127.0.0.1:${await freePort()}`;
}, 300_000);

afterAll(async () => {
  removeApp(app, Object.values(images));
  await haproxy?.stop();
}, 120_000);

async function deploy(environment: string, version: string): Promise<string> {
  const d = await runAction(
    'deploy',
    { ...routing(), environment, image: images[version]!.image, keep: '5' },
    { env },
  );
  expect(d.code, d.log).toBe(0);
  return d.outputs['target']!;
}

async function flip(environment: string, target: string, extra: Record<string, string> = {}) {
  return runAction('flip', { ...routing(), environment, target, ...extra }, { env });
}

it('loses no request of at least 20,000 through the actions on HAProxy, here or in another environment', async () => {
  const targets: Record<string, string> = {};
  for (const [environment, vs] of Object.entries(versions))
    for (const v of vs) targets[v] = await deploy(environment, v);

  const f1 = await flip('production', targets['v1']!, { listen });
  expect(f1.code, f1.log).toBe(0);
  const f2 = await flip('other', targets['o1']!, { listen, hosts: 'other.example.com' });
  expect(f2.code, f2.log).toBe(0);
  expect(await answer(`http://${listen}/`)).toBe('200 v1');

  const url = `http://${listen}/`;
  const load = { postEvery: 4, postPath: '/cgi-bin/post', retry: false, maxMs: 240_000 };
  const prod = startLoad(url, { ...load, workers: 4 });
  const other = startLoad(url, { ...load, workers: 2, host: 'other.example.com' });
  await prod.reach(1500);

  const steps: { what: string; code: number; log: string }[] = [];
  const step = async (what: string, run: Promise<{ code: number; log: string }>) => {
    const r = await run;
    steps.push({ what, ...r });
    await prod.reach(prod.count() + 1500);
    return r;
  };
  // The listen address and hosts follow the live route from here on.
  await step('flip to v2', flip('production', targets['v2']!));
  await step(
    'canary to v3',
    flip('production', targets['v3']!, { strategy: 'canary', steps: '10,50,90', interval: '1s' }),
  );
  await step('rollback', runAction('rollback', { ...routing(), environment: 'production' }, { env }));
  const race = await Promise.all([flip('production', targets['v1']!), flip('production', targets['v3']!)]);
  await prod.reach(prod.count() + 1500);
  await step('new environment', flip('new', targets['n1']!, { listen, hosts: 'new.example.com' }));
  await prod.reach(20_000);
  const [p, o] = [await prod.stop(), await other.stop()];
  console.info(
    `HAProxy through the actions, clients that never retry: production ${p.requests} requests (${p.posts} POST), ${p.failed} failed, ${p.connections} connections; other environment ${o.requests} requests (${o.posts} POST), ${o.failed} failed`,
  );

  for (const s of steps) expect(s.code, `${s.what}: ${s.log}`).toBe(0);
  // Two flips started together: each either wins or is refused because the other changed the
  // route first (two processes do not always overlap; the core test forces the overlap).
  expect(race.map((r) => r.code)).toContain(0);
  for (const r of race)
    if (r.code !== 0) expect(r.log).toMatch(/the route now serves .*Retry if the change is still needed/s);
  console.info(`racing flips: ${race.map((r) => (r.code === 0 ? 'applied' : 'refused')).join(', ')}`);
  expect(p.requests).toBeGreaterThanOrEqual(20_000);
  expect(p.posts).toBeGreaterThan(4000);
  expect({ failed: p.failed, errors: p.errors }).toEqual({ failed: 0, errors: [] });
  expect(o.requests).toBeGreaterThan(2000);
  expect({ failed: o.failed, errors: o.errors }).toEqual({ failed: 0, errors: [] });
  for (const v of ['v1', 'v2', 'v3']) expect(p.bodies[v]).toBeGreaterThan(0);
  expect(p.bodies['v1 post']).toBeGreaterThan(0);
  expect(Object.keys(o.bodies).sort()).toEqual(['o1', 'o1 post']);
  expect(await answer(`http://${listen}/`)).toMatch(/^200 v[13]$/);
}, 600_000);
