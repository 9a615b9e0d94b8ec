import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { startLoad } from './fixtures/apps/load.mjs';
import { answer, cli, containers, routeDials, useAppWorld } from './fixtures/apps/world.ts';
import { runAction } from './helpers/action.ts';
import { freePort, services } from './helpers/services.ts';

/**
 * SIGKILL at random moments during deploy and flip, then a rerun: it must
 * converge, the route must only ever point at running targets, and traffic
 * through the router (under load the whole time) must never fail.
 */
const app = 'e2e-kill';
const environment = 'production';
const world = useAppWorld(app);

/** A small seeded generator, so a failing run can be replayed from the seed it prints. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

it('converges after SIGKILL during deploy and flip, and traffic never fails', async () => {
  const seed = Number(process.env['ANEW_KILL_SEED'] ?? Date.now() % 100_000);
  console.log(`kill test seed: ${seed} (replay with ANEW_KILL_SEED=${seed})`);
  const rand = random(seed);
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));

  const listen = `127.0.0.1:${await freePort()}`;
  const site = `http://${listen}/`;
  const targetInputs = { app, environment, 'docker-host': services.dockerHost, keep: '1' };
  const routing = {
    app,
    environment,
    'docker-host': services.dockerHost,
    'router-url': world.caddy.admin,
    listen,
  };
  const flipInputs = { ...routing, strategy: 'canary', steps: '50', interval: '1s' };

  const first = await runAction('deploy', { ...targetInputs, image: world.images[0]!.image });
  expect(first.code, first.log).toBe(0);
  expect((await runAction('flip', { ...routing, target: first.outputs['target']! })).code).toBe(0);

  /** The route points only at running targets of this environment, and a request through it succeeds. */
  const consistent = async (when: string) => {
    const running = new Set(
      containers(app)
        .filter((c) => c.state === 'running')
        .map((c) => c.address),
    );
    const dials = await routeDials(world.caddy.admin, app, environment);
    expect(dials.length, when).toBeGreaterThan(0);
    for (const d of dials) expect(running.has(d), `${when}: route to ${d}, where no target runs`).toBe(true);
    expect(await answer(site), when).toMatch(/^200 v[12]$/);
  };

  const load = startLoad(site, { workers: 2, maxMs: 150_000 });
  for (let round = 0; round < 4; round++) {
    const version = round % 2 === 0 ? 1 : 0;
    const killDeploy = between(150, 2500);
    const d = await runAction(
      'deploy',
      { ...targetInputs, image: world.images[version]!.image },
      { killAfterMs: killDeploy },
    );
    await consistent(`round ${round}: deploy killed after ${killDeploy} ms (exit ${d.code})`);

    const redeploy = await runAction('deploy', { ...targetInputs, image: world.images[version]!.image });
    expect(redeploy.code, redeploy.log).toBe(0);
    const target = redeploy.outputs['target']!;

    const killFlip = between(150, 3000);
    const f = await runAction('flip', { ...flipInputs, target }, { killAfterMs: killFlip });
    await consistent(`round ${round}: flip killed after ${killFlip} ms (exit ${f.code})`);

    const reflip = await runAction('flip', { ...flipInputs, target });
    expect(reflip.code, reflip.log).toBe(0);
    await consistent(`round ${round}: after the rerun`);
    expect(await answer(site)).toBe(`200 v${version + 1}`);
  }
  const report = await load.stop();
  console.log(
    `load during kills: ${report.requests} requests, ${report.failed} failed, ${report.retriedOnClosedConnection} retried once after their connection closed before any answer`,
  );
  expect(report.errors).toEqual([]);
  expect(report.requests).toBeGreaterThan(100);

  // What the kills left behind is retired by the next cleanup; nothing drifts.
  // Every release here is seconds old, and cleanup spares one younger than its health timeout (it
  // may be a deploy still running elsewhere): this anew.yml says no deploy is still running.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-kill-'));
  const config = path.join(dir, 'anew.yml');
  fs.writeFileSync(config, 'defaults:\n  health-timeout: 0s\n');
  const c = await runAction('cleanup', { ...routing, keep: '1', config });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(c.code, c.log).toBe(0);
  const left = containers(app);
  expect(left.every((x) => x.state === 'running')).toBe(true);
  expect(new Set(left.map((x) => x.release)).size).toBeLessThanOrEqual(2);
  const s = cli(['status', '--app', app, '--router-url', world.caddy.admin]);
  expect(s.code, s.stdout + s.stderr).toBe(0);
  expect(s.stdout).not.toMatch(/DRIFT/);
});
