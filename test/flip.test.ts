import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { answer, containers, routeDials, routeOf } from './fixtures/apps/world.ts';
import { NODE24, runAction } from './helpers/action.ts';
import { docker, freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * Flips that race, and canary flips: with the committed bundles, the real
 * engine and a real Caddy.
 */
const app = 'e2e-flip';
let v1: TestImage;
let v2: TestImage;
let broken: TestImage;
let caddy: RunningService & { admin: string };

beforeAll(async () => {
  v1 = buildAppImage(`anew-test/${app}`, { version: 'v1' });
  v2 = buildAppImage(`anew-test/${app}`, { version: 'v2' });
  broken = buildAppImage(`anew-test/${app}`, { broken: true });
  caddy = await startCaddy();
});

afterAll(async () => {
  removeApp(app, [v1, v2, broken].filter(Boolean));
  await caddy?.stop();
});

interface Backends {
  handle: { handler: string; 'anew.backends'?: { release: string; target: string; weight: number }[] }[];
}
async function backends(environment: string) {
  const route = (await routeOf(caddy.admin, app, environment)) as Backends | undefined;
  return route?.handle.find((h) => h.handler === 'vars')?.['anew.backends'] ?? [];
}

/** An environment with v1 live: returns its listen address and routing inputs. */
async function liveOnV1(environment: string) {
  const listen = `127.0.0.1:${await freePort()}`;
  const routing = { app, environment, 'docker-host': services.dockerHost, 'router-url': caddy.admin, listen };
  const d = await runAction('deploy', {
    app,
    environment,
    'docker-host': services.dockerHost,
    image: v1.image,
  });
  expect(d.code, d.log).toBe(0);
  const f = await runAction('flip', { ...routing, target: d.outputs['target']! });
  expect(f.code, f.log).toBe(0);
  return { site: `http://${listen}/`, routing, t1: d.outputs['target']!, r1: d.outputs['release']! };
}

async function deployV2(environment: string) {
  const d = await runAction('deploy', {
    app,
    environment,
    'docker-host': services.dockerHost,
    image: v2.image,
    keep: '5',
  });
  expect(d.code, d.log).toBe(0);
  return { target: d.outputs['target']!, release: d.outputs['release']! };
}

describe('two concurrent flips of one environment', () => {
  it('one wins, the other reports the conflict and changes nothing; the router stays consistent', async () => {
    const { site, routing } = await liveOnV1('race');
    const a = await deployV2('race');
    const b = await deployV2('race');
    // Canary steps hold the route's version across a watched interval, so the two always overlap.
    const flipTo = (target: string) =>
      runAction(
        'flip',
        { ...routing, target, strategy: 'canary', steps: '50', interval: '2s' },
        { node: NODE24 },
      );
    const [ra, rb] = await Promise.all([flipTo(a.target), flipTo(b.target)]);
    const runs = [
      { run: ra, to: a },
      { run: rb, to: b },
    ];
    const won = runs.filter((x) => x.run.code === 0);
    const lost = runs.filter((x) => x.run.code !== 0);
    expect(won, runs.map((x) => x.run.log).join('\n-----\n')).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.run.log).toMatch(/changed concurrently/);
    const winner = won[0]!.to;
    expect(await backends('race')).toEqual([
      expect.objectContaining({ release: winner.release, weight: 100 }),
    ]);
    const live = containers(app).find((c) => c.name === winner.target)!;
    expect(await routeDials(caddy.admin, app, 'race')).toEqual([live.address]);
    for (let i = 0; i < 10; i++) expect(await answer(site)).toBe('200 v2');
  });
});

describe('canary', () => {
  it('moves traffic in steps and records the previous release for rollback', async () => {
    const { site, routing, r1 } = await liveOnV1('canary');
    const next = await deployV2('canary');
    const seen: number[] = [];
    const flip = runAction('flip', {
      ...routing,
      target: next.target,
      strategy: 'canary',
      steps: '20,60',
      interval: '1500ms',
      'max-error-rate': '0',
    });
    let done = false;
    flip.finally(() => {
      done = true;
    });
    while (!done) {
      const w = (await backends('canary')).find((x) => x.release === next.release)?.weight;
      if (w !== undefined && !seen.includes(w)) seen.push(w);
      await new Promise((r) => setTimeout(r, 100));
    }
    const f = await flip;
    expect(f.code, f.log).toBe(0);
    const final = (await backends('canary')).find((x) => x.release === next.release)!.weight;
    if (!seen.includes(final)) seen.push(final);
    expect(seen).toEqual([20, 60, 100]);
    expect(f.log).toMatch(/0 of \d+ requests through the router failed/);
    const route = (await routeOf(caddy.admin, app, 'canary')) as Backends;
    expect(route.handle.find((h) => h.handler === 'vars')).toMatchObject({ 'anew.history': [r1] });
    expect(await answer(site)).toBe('200 v2');
  });

  it('puts all traffic back and fails with the reason when the new target fails during a step', async () => {
    const { site, routing, r1 } = await liveOnV1('canary-fail');
    const next = await deployV2('canary-fail');
    const flip = runAction('flip', {
      ...routing,
      target: next.target,
      strategy: 'canary',
      steps: '50',
      interval: '4s',
    });
    // Once the step is live, the new target dies.
    for (let i = 0; i < 200 && (await backends('canary-fail')).length < 2; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await backends('canary-fail')).map((b) => b.weight)).toEqual([50, 50]);
    docker(['kill', next.target]);
    const f = await flip;
    expect(f.code).not.toBe(0);
    // (the runner's annotations escape % as %25)
    expect(f.log).toMatch(/canary step 50(%|%25) failed: .* became unhealthy .*; all traffic is back on/);
    expect(await backends('canary-fail')).toEqual([expect.objectContaining({ release: r1, weight: 100 })]);
    for (let i = 0; i < 10; i++) expect(await answer(site)).toBe('200 v1');
  });
});

describe('canary error rate', () => {
  it('catches a release that passes its health check but fails requests through the router', async () => {
    const { site, routing, r1 } = await liveOnV1('canary-errors');
    const d = await runAction('deploy', {
      app,
      environment: 'canary-errors',
      'docker-host': services.dockerHost,
      image: broken.image,
      'health-path': '/health',
    });
    expect(d.code, d.log).toBe(0);
    const f = await runAction('flip', {
      ...routing,
      target: d.outputs['target']!,
      strategy: 'canary',
      steps: '25',
      interval: '2s',
      'max-error-rate': '5%',
    });
    expect(f.code).not.toBe(0);
    expect(f.log).toMatch(
      /canary step 25(%|%25) failed: \d+\.\d+(%|%25) of requests through the router failed .*HTTP 500.*above max-error-rate 5\.00(%|%25)/,
    );
    expect(await backends('canary-errors')).toEqual([expect.objectContaining({ release: r1, weight: 100 })]);
    for (let i = 0; i < 5; i++) expect(await answer(site)).toBe('200 v1');
  });
});

describe('rollback of an interrupted canary', () => {
  it('puts all traffic back on the release the canary started from', async () => {
    const { site, routing, r1 } = await liveOnV1('canary-stop');
    const next = await deployV2('canary-stop');
    // The flip is killed while it watches its first step.
    const killed = await runAction(
      'flip',
      { ...routing, target: next.target, strategy: 'canary', steps: '30', interval: '60s' },
      { killAfterMs: 5000 },
    );
    expect(killed.code).toBe(137);
    expect((await backends('canary-stop')).map((b) => [b.release, b.weight])).toEqual([
      [r1, 70],
      [next.release, 30],
    ]);
    const r = await runAction('rollback', routing);
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['release']).toBe(r1);
    expect(await backends('canary-stop')).toEqual([expect.objectContaining({ release: r1, weight: 100 })]);
    for (let i = 0; i < 5; i++) expect(await answer(site)).toBe('200 v1');
  });
});

describe('a canary that loses its route to another writer', () => {
  it('says what the route serves after a failed step, read again, and never that all traffic is back', async () => {
    const { site, routing } = await liveOnV1('canary-lost');
    const next = await deployV2('canary-lost');
    const d3 = await runAction('deploy', {
      app,
      environment: 'canary-lost',
      'docker-host': services.dockerHost,
      image: v1.image,
      keep: '5',
    });
    expect(d3.code, d3.log).toBe(0);
    const flip = runAction('flip', {
      ...routing,
      target: next.target,
      strategy: 'canary',
      steps: '50',
      interval: '10s',
    });
    for (let i = 0; i < 200 && (await backends('canary-lost')).length < 2; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await backends('canary-lost')).map((b) => b.weight)).toEqual([50, 50]);
    // Another flip wins the route while the canary watches, then the canary's target dies.
    const other = await runAction('flip', { ...routing, target: d3.outputs['target']! });
    expect(other.code, other.log).toBe(0);
    docker(['kill', next.target]);
    const f = await flip;
    expect(f.code).not.toBe(0);
    expect(f.log).not.toMatch(/all traffic is back/);
    expect(f.log).toMatch(
      new RegExp(
        `canary step 50(%|%25) failed: .*; putting all traffic back on \\S+ failed too \\(.*changed concurrently.*\\); the route now serves ${d3.outputs['release']} \\(${d3.outputs['target']}, 100(%|%25)\\)`,
      ),
    );
    expect(await backends('canary-lost')).toEqual([
      expect.objectContaining({ release: d3.outputs['release'], weight: 100 }),
    ]);
    expect(await answer(site)).toBe('200 v1');
  });
});
