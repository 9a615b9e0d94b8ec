import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { startLoad } from './fixtures/apps/load.mjs';
import { answer, cli, containers, routeDials, routeOf } from './fixtures/apps/world.ts';
import { NODE_LOCAL, NODE24, runAction } from './helpers/action.ts';
import { docker, freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * The acceptance flow of issue 4, with the committed bundles, the real
 * engine and a real Caddy: deploy, flip, deploy again (traffic unchanged),
 * flip and roll back under keep-alive load without a failed request, an
 * unhealthy release that never takes traffic, a tag refused, status, drift,
 * dry runs and cleanup.
 */
const app = 'e2e-flow';
const environment = 'production';
let v1: TestImage;
let v2: TestImage;
let bad: TestImage;
let caddy: RunningService & { admin: string };
let listen: string;
let site: string;

const common = () => ({ app, environment, 'docker-host': services.dockerHost });
const routing = () => ({ ...common(), 'router-url': caddy.admin, listen });

beforeAll(async () => {
  v1 = buildAppImage(`anew-test/${app}`, { version: 'v1' });
  v2 = buildAppImage(`anew-test/${app}`, { version: 'v2' });
  bad = buildAppImage(`anew-test/${app}`, { unhealthy: true });
  caddy = await startCaddy();
  const port = await freePort();
  listen = `127.0.0.1:${port}`;
  site = `http://${listen}/`;
});

afterAll(async () => {
  removeApp(app, [v1, v2, bad].filter(Boolean));
  await caddy?.stop();
});

describe('deploy → flip → deploy → flip and rollback under load', () => {
  let t1: string;
  let t2: string;

  it('refuses a tag-only image before anything happens', async () => {
    const run = await runAction('deploy', { ...common(), image: `${services.registry}/anew-test/${app}:v1` });
    expect(run.code).not.toBe(0);
    expect(run.log).toMatch(/is not pinned by digest/);
    expect(containers(app)).toEqual([]);
  });

  it('deploys v1 healthy without traffic, then flips to it (first route in an empty Caddy)', async () => {
    const dry = await runAction('deploy', { ...common(), image: v1.image, 'dry-run': 'true' });
    expect(dry.code, dry.log).toBe(0);
    expect(dry.log).toMatch(/Plan \(dry run/);
    expect(containers(app)).toEqual([]);

    const d = await runAction(
      'deploy',
      { ...common(), image: v1.image, 'health-path': '/health' },
      { node: NODE24 },
    );
    expect(d.code, d.log).toBe(0);
    t1 = d.outputs['target']!;
    expect(t1).toMatch(new RegExp(`^anew-${app}-${environment}-${v1.digest.slice(7, 19)}-[0-9a-f]{6}$`));
    expect(d.outputs['release']).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(await answer(d.outputs['url']!)).toBe('200 v1');
    const [c] = containers(app);
    expect(c).toMatchObject({ name: t1, state: 'running', release: d.outputs['release'] });
    const labels = JSON.parse(docker(['inspect', '--format', '{{json .Config.Labels}}', t1])) as Record<
      string,
      string
    >;
    expect(labels).toMatchObject({
      'dev.anew.app': app,
      'dev.anew.digest': v1.digest,
      'dev.anew.image': v1.image,
    });
    expect(await routeOf(caddy.admin, app, environment)).toBeUndefined();

    const dryFlip = await runAction('flip', { ...routing(), target: t1, 'dry-run': 'true' });
    expect(dryFlip.code, dryFlip.log).toBe(0);
    expect(await routeOf(caddy.admin, app, environment)).toBeUndefined();

    const f = await runAction('flip', { ...routing(), target: t1 }, { node: NODE_LOCAL });
    expect(f.code, f.log).toBe(0);
    expect(f.outputs).toMatchObject({ release: d.outputs['release'], 'previous-target': '' });
    expect(await answer(site)).toBe('200 v1');
  });

  it('deploys v2 while v1 keeps all traffic, its environment values kept out of argv and logs', async () => {
    // Names the docker CLI itself reads too: their values must stay out of argv as well.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-deploy-tmp-'));
    const d = await runAction(
      'deploy',
      {
        ...common(),
        image: v2.image,
        'health-path': '/health',
        env: 'API_TOKEN=tok-51d0e2-not-for-logs\nDOCKER_SECRETY=dk-7f3a-not-for-argv\nSSH_PASS=ssh-93c1-not-for-argv\nMODE=mode-c4e2',
      },
      { env: { TMPDIR: tmp } },
    );
    expect(d.code, d.log).toBe(0);
    t2 = d.outputs['target']!;
    for (const secret of [
      'tok-51d0e2-not-for-logs',
      'dk-7f3a-not-for-argv',
      'ssh-93c1-not-for-argv',
      'mode-c4e2',
    ])
      expect(d.log).not.toContain(secret);
    expect(d.log).toMatch(/Running: docker run .*--env-file \S+ /);
    // The file the docker CLI read is gone once the container started.
    expect(fs.readdirSync(tmp)).toEqual([]);
    fs.rmSync(tmp, { recursive: true, force: true });
    const env = JSON.parse(docker(['inspect', '--format', '{{json .Config.Env}}', t2])) as string[];
    expect(env).toEqual(
      expect.arrayContaining([
        'API_TOKEN=tok-51d0e2-not-for-logs',
        'DOCKER_SECRETY=dk-7f3a-not-for-argv',
        'SSH_PASS=ssh-93c1-not-for-argv',
        'MODE=mode-c4e2',
      ]),
    );
    expect(await answer(d.outputs['url']!)).toBe('200 v2');
    for (let i = 0; i < 20; i++) expect(await answer(site)).toBe('200 v1');
  });

  it('flips to v2 and rolls back to v1 under keep-alive load: 0 failed requests of at least 20,000', async () => {
    const load = startLoad(site, { workers: 4, maxRequests: 100_000, maxMs: 120_000 });
    await load.reach(2000);
    const f = await runAction('flip', { ...routing(), target: t2 }, { node: NODE24 });
    expect(f.code, f.log).toBe(0);
    expect(f.outputs['previous-target']).toBe(t1);
    await load.reach(load.count() + 3000);
    expect(await answer(site)).toBe('200 v2');
    const r = await runAction('rollback', routing());
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['target']).toBe(t1);
    await load.reach(20_000);
    const report = await load.stop();
    expect(report.errors).toEqual([]);
    expect(report.failed).toBe(0);
    expect(report.requests).toBeGreaterThanOrEqual(20_000);
    expect(report.bodies['v1']).toBeGreaterThan(0);
    expect(report.bodies['v2']).toBeGreaterThan(0);
    expect(Object.keys(report.bodies).sort()).toEqual(['v1', 'v2']);
    console.log(
      `load: ${report.requests} requests, ${report.failed} failed, ${report.retriedOnClosedConnection} retried once after their connection closed before any answer (Caddy reloads), ${report.connections} connections`,
      report.bodies,
    );
    expect(await answer(site)).toBe('200 v1');
    // Both stayed warm.
    expect(containers(app).map((c) => c.state)).toEqual(['running', 'running']);
  });

  it('an unhealthy release fails its deploy, shows its logs, is removed, and never takes a request', async () => {
    const before = await routeDials(caddy.admin, app, environment);
    const load = startLoad(site, { workers: 2, maxMs: 60_000 });
    const d = await runAction('deploy', { ...common(), image: bad.image, 'health-timeout': '3s' });
    const report = await load.stop();
    expect(d.code).not.toBe(0);
    expect(d.log).toMatch(/was not healthy within 3 s/);
    expect(d.log).toMatch(/unhealthy build: no content to serve/);
    expect(
      containers(app)
        .map((c) => c.name)
        .sort(),
    ).toEqual([t1, t2].sort());
    expect(await routeDials(caddy.admin, app, environment)).toEqual(before);
    expect(report.failed).toBe(0);
    expect(Object.keys(report.bodies)).toEqual(['v1']);
  });

  it('refuses to flip to a target that is not healthy now, and changes nothing', async () => {
    docker(['stop', '--time', '1', t2]);
    const before = await routeDials(caddy.admin, app, environment);
    const f = await runAction('flip', { ...routing(), target: t2 });
    expect(f.code).not.toBe(0);
    expect(f.log).toMatch(/is exited, not running/);
    expect(await routeDials(caddy.admin, app, environment)).toEqual(before);
    expect(await answer(site)).toBe('200 v1');

    // status reports it as drift, from the labels and the route alone.
    const s = cli(['status', '--app', app, '--router-url', caddy.admin]);
    expect(s.code).toBe(3);
    expect(s.stdout).toMatch(new RegExp(`${app}/${environment}`));
    expect(s.stdout).toMatch(/LIVE 100%/);
    expect(s.stdout).toMatch(new RegExp(`DRIFT +target ${t2} .* is exited`));
    docker(['start', t2]);
  });

  it('rolls back to a release named by "to", then says so and does nothing when the target is gone', async () => {
    await new Promise((r) => setTimeout(r, 500));
    const r = await runAction('rollback', { ...routing(), to: v2.digest });
    expect(r.code, r.log).toBe(0);
    expect(await answer(site)).toBe('200 v2');
    docker(['rm', '-f', t1]);
    const gone = await runAction('rollback', routing());
    expect(gone.code).not.toBe(0);
    expect(gone.log).toMatch(/has no target any more .* nothing was changed/);
    expect(await answer(site)).toBe('200 v2');
  });

  it('reports a route to a target that is gone as drift, and cleanup retires the environment', async () => {
    docker(['rm', '-f', t2]);
    const s = cli(['status', '--app', app, '--router-url', caddy.admin]);
    expect(s.code).toBe(3);
    expect(s.stdout).toMatch(/DRIFT +route sends traffic to 127\.0\.0\.1:\d+, where no target/);
    const d = await runAction('deploy', { ...common(), image: v1.image });
    expect(d.code, d.log).toBe(0);
    const c = await runAction('cleanup', { ...routing(), all: 'true' });
    expect(c.code, c.log).toBe(0);
    expect(c.outputs['removed']).toContain(d.outputs['target']);
    expect(containers(app)).toEqual([]);
    expect(await routeOf(caddy.admin, app, environment)).toBeUndefined();
  });
});
