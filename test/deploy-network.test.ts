import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { type NetworkRouter, startRouterOnNetwork } from './fixtures/apps/router.ts';
import { answer, containers } from './fixtures/apps/world.ts';
import { runAction } from './helpers/action.ts';
import { docker, services } from './helpers/services.ts';

/**
 * A named Docker network: targets get no host port; the router, a Caddy in
 * the same network, reaches them by name:port, and the health checks from
 * here use the container's address in that network.
 */
const app = 'e2e-net';
let images: TestImage[] = [];
let router: NetworkRouter;

beforeAll(async () => {
  images = [
    buildAppImage(`anew-test/${app}`, { version: 'v1' }),
    buildAppImage(`anew-test/${app}`, { version: 'v2' }),
  ];
  router = startRouterOnNetwork('anew-e2e-net', '172.31.251');
  for (let i = 0; i < 50; i++) {
    try {
      if ((await fetch(`${router.admin}/config/`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the Caddy container did not answer: ${docker(['logs', 'anew-e2e-net-caddy'])}`);
}, 120_000);

afterAll(() => {
  removeApp(app, images);
  router?.remove();
});

it('deploys on a named network and the router reaches targets by name', async () => {
  const target = { app, environment: 'production', 'docker-host': services.dockerHost };
  const routing = { ...target, 'router-url': router.admin, listen: ':8080' };
  const d1 = await runAction('deploy', {
    ...target,
    image: images[0]!.image,
    network: router.network,
    port: '8080',
  });
  expect(d1.code, d1.log).toBe(0);
  const t1 = d1.outputs['target']!;
  expect(containers(app)[0]!.address).toBe(`${t1}:8080`);
  expect(d1.outputs['url']).toMatch(/^http:\/\/172\.31\.251\.\d+:8080$/);
  const f1 = await runAction('flip', { ...routing, target: t1 });
  expect(f1.code, f1.log).toBe(0);
  const site = `http://${router.ip}:8080/`;
  expect(await answer(site)).toBe('200 v1');

  const d2 = await runAction('deploy', { ...target, image: images[1]!.image, network: router.network });
  expect(d2.code, d2.log).toBe(0);
  const f2 = await runAction('flip', { ...routing, target: d2.outputs['target']! });
  expect(f2.code, f2.log).toBe(0);
  expect(await answer(site)).toBe('200 v2');
  const r = await runAction('rollback', routing);
  expect(r.code, r.log).toBe(0);
  expect(await answer(site)).toBe('200 v1');
});
