import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type Settings } from '../packages/core/src/config/index.ts';
import { UserError } from '../packages/core/src/errors/index.ts';
import { ConsoleLogger } from '../packages/core/src/log/index.ts';
import { parsePinnedReference } from '../packages/core/src/ref/index.ts';
import { prune } from '../packages/core/src/release/cleanup.ts';
import { type DeployResult, deploy } from '../packages/core/src/release/deploy.ts';
import { flip } from '../packages/core/src/release/flip.ts';
import type { Infra } from '../packages/core/src/release/infra.ts';
import { rollback } from '../packages/core/src/release/rollback.ts';
import { status } from '../packages/core/src/release/status.ts';
import { adminTransport } from '../packages/core/src/routers/admin-transport.ts';
import { CaddyRouter } from '../packages/core/src/routers/caddy/index.ts';
import { HaproxyRouter } from '../packages/core/src/routers/haproxy/index.ts';
import { SwarmEngine } from '../packages/core/src/targets/swarm/index.ts';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { startLoad } from './fixtures/apps/load.mjs';
import { runAction } from './helpers/action.ts';
import {
  docker,
  freePort,
  type RunningHaproxy,
  services,
  startCaddy,
  startHaproxy,
} from './helpers/services.ts';

/**
 * Issue 11's Swarm acceptance on a real two-node swarm (the test engine
 * manages, a second engine on 127.0.0.2 works; test/services/start.sh):
 * the release functions drive the Swarm driver and HAProxy as the actions
 * do, under load from clients that never retry.
 */
const app = 'e2e-swarm';
const environment = 'production';
let v1: TestImage;
let v2: TestImage;
let bad: TestImage;
let haproxy: RunningHaproxy;
let infra: Infra;
let settings: Settings;
const lines: string[] = [];
const swarm = () => services.swarm;

const services_ = () =>
  docker(['service', 'ls', '--format', '{{.Name}}', '--filter', `label=dev.anew.app=${app}`], {
    host: swarm().manager,
  })
    .split('\n')
    .filter(Boolean)
    .sort();

async function until<T>(what: string, fn: () => Promise<T | undefined>, tries = 240): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`gave up waiting for ${what}`);
}

function run(image: TestImage, extra: Partial<Settings> = {}): Promise<DeployResult> {
  return deploy(infra, {
    image: parsePinnedReference(image.image),
    app,
    environment,
    settings: { ...settings, ...extra },
    run: { serverUrl: 'https://github.com', sha: 'c0ffee', repository: 'acme/web', runId: '42' },
    dryRun: false,
  });
}

const to = (target: string, extra: Partial<Settings> = {}) =>
  flip(infra, { app, environment, to: target, settings: { ...settings, ...extra }, dryRun: false });

beforeAll(async () => {
  v1 = buildAppImage(`anew-test/${app}`, { version: 'v1' });
  v2 = buildAppImage(`anew-test/${app}`, { version: 'v2' });
  bad = buildAppImage(`anew-test/${app}`, { unhealthy: true });
  // A run stopped mid-way could have left the worker paused: one task per node needs it active.
  const { manager, worker } = swarm();
  const workerId = docker(['info', '--format', '{{.Swarm.NodeID}}'], { host: worker }).trim();
  docker(['node', 'update', '--availability', 'active', workerId], { host: manager });
  haproxy = await startHaproxy();
  const log = new ConsoleLogger((l) => lines.push(l));
  const transport = adminTransport(haproxy.master);
  infra = {
    engines: [new SwarmEngine({ host: swarm().manager, log })],
    router: new HaproxyRouter(transport, haproxy.configDir, log),
    log,
    close: () => transport.close(),
  };
  settings = {
    ...DEFAULT_SETTINGS,
    driver: 'swarm',
    replicas: 2,
    'health-path': '/health',
    listen: `127.0.0.1:${await freePort()}`,
    interval: 1000,
    steps: [50, 100],
    keep: 1,
    env: { GREETING: 'swarm-secret-value' },
  };
});

afterAll(async () => {
  const { manager, worker } = swarm();
  const workerId = docker(['info', '--format', '{{.Swarm.NodeID}}'], { host: worker }).trim();
  docker(['node', 'update', '--availability', 'active', workerId], { host: manager });
  for (const s of services_()) docker(['service', 'rm', s], { host: manager });
  // The swarm stops the tasks after the services go; their images can go once the containers have.
  for (const host of [manager, worker]) {
    await until(`the tasks of ${app} to stop on ${host}`, async () =>
      docker(['ps', '-q', '--filter', `label=dev.anew.app=${app}`], { host }).trim() === ''
        ? true
        : undefined,
    ).catch(() => undefined);
    removeApp(app, [v1, v2, bad].filter(Boolean), host);
  }
  await haproxy?.stop();
});

describe('Swarm driver on a two-node swarm, through HAProxy', () => {
  let d1: DeployResult;
  let d2: DeployResult;

  it('deploys, flips, deploys, canaries, rolls back and cleans up with no failed request', async () => {
    d1 = await run(v1);
    // One task per node, each on its own port of the release's block.
    expect(d1.targets.map((t) => t.address.split(':')[0]).sort()).toEqual([
      '127.0.0.1',
      swarm().workerAddress,
    ]);
    expect(new Set(d1.targets.map((t) => t.address.split(':')[1])).size).toBe(2);
    // The app's env reached the tasks by file, never in argv or the log.
    expect(lines.join('\n')).not.toContain('swarm-secret-value');
    const env = docker(
      ['service', 'inspect', '--format', '{{json .Spec.TaskTemplate.ContainerSpec.Env}}', d1.target],
      { host: swarm().manager },
    );
    expect(env).toContain('GREETING=swarm-secret-value');
    const labels = JSON.parse(
      docker(['service', 'inspect', '--format', '{{json .Spec.Labels}}', d1.target], {
        host: swarm().manager,
      }),
    ) as Record<string, string>;
    expect(labels).toMatchObject({
      'dev.anew.app': app,
      'dev.anew.environment': environment,
      'dev.anew.release': d1.release,
      'dev.anew.digest': v1.digest,
      'dev.anew.commit': 'c0ffee',
      'dev.anew.run-url': 'https://github.com/acme/web/actions/runs/42',
    });

    await to(d1.target);
    const url = `http://${settings.listen}/`;
    const load = startLoad(url, { workers: 4, retry: false, maxMs: 170_000 });
    await load.reach(1000);

    d2 = await run(v2);
    expect(d2.targets).toHaveLength(2);
    // The live release's ports and the new one's never overlap.
    const ports = (d: DeployResult) => d.targets.map((t) => t.address.split(':')[1]);
    expect(ports(d2).filter((p) => ports(d1).includes(p))).toEqual([]);
    await load.reach(load.count() + 1000);
    await to(d2.target, { strategy: 'canary' });
    await load.reach(load.count() + 1000);
    await rollback(infra, { app, environment, settings, dryRun: false });
    await load.reach(load.count() + 1000);
    // keep 0 still keeps the release rollback would return to (v2, warm after the rollback).
    const removed = await prune(infra, { app, environment, keep: 0 });
    expect(removed).toEqual([]);
    // Retiring it is the engine's job once nothing would return to it: here the test stands in for a later deploy.
    for (const t of d2.targets) await infra.engines[0]!.remove(t);
    await load.reach(load.count() + 1000);
    const report = await load.stop();
    console.info(
      `Swarm through HAProxy, clients that never retry: ${report.requests} requests, ${report.failed} failed, ${report.connections} connections`,
    );

    expect({ failed: report.failed, errors: report.errors }).toEqual({ failed: 0, errors: [] });
    expect(report.bodies['v1\n'] ?? report.bodies['v1']).toBeGreaterThan(0);
    expect(report.bodies['v2\n'] ?? report.bodies['v2']).toBeGreaterThan(0);
    // Removing the warm v2 service never touched the live one.
    expect(services_()).toEqual([d1.target]);
    const [st] = await status(infra, { app, environment });
    expect(st?.live).toBe(d1.release);
    expect(st?.drift).toEqual([]);
    // The manager over ssh:// (the test sshd's sessions talk to the test engine) sees the same tasks.
    const overSsh = new SwarmEngine({ host: services.sshDockerHost, log: infra.log });
    const addresses = async (e: SwarmEngine) =>
      (await e.list({ app, environment })).map((t) => `${t.name} ${t.address} ${t.state}`).sort();
    expect(await addresses(overSsh)).toEqual(await addresses(infra.engines[0] as SwarmEngine));
  });

  it('Caddy routes a Swarm release to one upstream per task as HAProxy does', async () => {
    const caddy = await startCaddy();
    try {
      const viaCaddy: Infra = { ...infra, router: new CaddyRouter(caddy.admin) };
      const listen = `127.0.0.1:${await freePort()}`;
      await flip(viaCaddy, {
        app,
        environment,
        to: d1.target,
        settings: { ...settings, listen },
        dryRun: false,
      });
      const live = (await infra.engines[0]!.list({ app, environment })).map((t) => t.address).sort();
      expect((await viaCaddy.router.dials(app, environment)).sort()).toEqual(live);
      const bodies = await Promise.all(
        Array.from({ length: 10 }, async () => (await fetch(`http://${listen}/`)).text()),
      );
      expect(new Set(bodies)).toEqual(new Set(['v1\n']));
    } finally {
      await caddy.stop();
    }
  });

  it('a release whose tasks never become healthy never takes traffic and leaves no service', async () => {
    const before = await infra.router.dials(app, environment);
    const err = await run(bad, { 'health-timeout': 6000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect(String((err as Error).message)).toMatch(/did not become healthy, so none of it was kept/);
    // The reason is the health check's and the app's own words, from the task's logs.
    expect(String((err as Error).message)).toMatch(
      /\(task \d on 127\.0\.0\.\d\) on .* was not healthy within 6 s \(GET \/health: .*404/,
    );
    expect(String((err as Error).message)).toMatch(/unhealthy build: no content to serve/);
    expect(services_()).toEqual([d1.target]);
    const [st] = await status(infra, { app, environment });
    expect(st?.live).toBe(d1.release);
    expect(st?.releases.map((r) => r.release)).toEqual([d1.release]);
    expect(await infra.router.dials(app, environment)).toEqual(before);
  });

  it("placement no node satisfies fails with the swarm's reason and leaves no service", async () => {
    const err = await run(v2, {
      constraints: ['node.labels.anew-test-zone==nowhere'],
      'health-timeout': 5000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect(String((err as Error).message)).toMatch(/did not all run within 5 s[\s\S]*no suitable node/);
    expect(String((err as Error).message)).toMatch(/The service was removed; nothing else changed/);
    expect(services_()).toEqual([d1.target]);
  });

  it('a task killed on a node is reported by status, replaced by the swarm, and the next flip routes to it', async () => {
    const { manager, worker, workerAddress } = swarm();
    const workerId = docker(['info', '--format', '{{.Swarm.NodeID}}'], { host: worker }).trim();
    // Paused, the worker keeps its task but takes no new one: the replacement lands on the manager.
    docker(['node', 'update', '--availability', 'pause', workerId], { host: manager });
    const onWorker = docker(['ps', '-q', '--filter', `label=dev.anew.release=${d1.release}`], {
      host: worker,
    })
      .trim()
      .split('\n');
    expect(onWorker).toHaveLength(1);
    const routedBefore = await infra.router.dials(app, environment);
    const gone = routedBefore.find((d) => d.startsWith(`${workerAddress}:`))!;
    expect(gone).toBeDefined();
    docker(['kill', onWorker[0]!], { host: worker });

    const engine = infra.engines[0]!;
    const moved = await until('the swarm to replace the killed task on the manager', async () => {
      const ts = (await engine.list({ app, environment })).filter((t) => t.name === d1.target);
      return ts.length === 2 && ts.every((t) => t.state === 'running' && t.address.startsWith('127.0.0.1:'))
        ? ts
        : undefined;
    });
    const [st] = await status(infra, { app, environment });
    expect(st?.drift).toEqual([
      `route sends traffic to ${gone}, where no target of ${app}/${environment} runs`,
    ]);

    const res = await to(d1.target);
    expect(res.changed).toBe(true);
    expect((await infra.router.dials(app, environment)).sort()).toEqual(moved.map((t) => t.address).sort());
    const [after] = await status(infra, { app, environment });
    expect(after?.drift).toEqual([]);
    // A service scaled below the release's replicas: the lost slot is drift until it is back.
    docker(['service', 'scale', '--detach', `${d1.target}=1`], { host: manager });
    const scaled = await until('the swarm to drop task 2', async () => {
      const [s] = await status(infra, { app, environment });
      return s?.drift.some((d) => d.includes('(task 2)')) ? s : undefined;
    });
    expect(scaled.drift).toContain(`target ${d1.target} (task 2) on ${manager} is missing`);
    docker(['service', 'scale', '--detach', `${d1.target}=2`], { host: manager });
    await until('task 2 to run again', async () => {
      const ts = (await engine.list({ app, environment })).filter((t) => t.name === d1.target);
      return ts.every((t) => t.state === 'running') ? ts : undefined;
    });
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => (await fetch(`http://${settings.listen}/`)).text()),
    );
    expect(new Set(answers)).toEqual(new Set(['v1\n']));
  });

  it('the deploy and flip actions run a Swarm release from anew.yml through the committed bundles', async () => {
    const caddy = await startCaddy();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-swarm-config-'));
    try {
      const config = path.join(dir, 'anew.yml');
      const listen = `127.0.0.1:${await freePort()}`;
      fs.writeFileSync(
        config,
        [
          `app: ${app}`,
          'environments:',
          '  bundle:',
          '    driver: swarm',
          '    replicas: 2',
          `    docker-host: ${swarm().manager}`,
          '    health-path: /health',
          `    router-url: ${caddy.admin}`,
          `    listen: "${listen}"`,
          '',
        ].join('\n'),
      );
      const d = await runAction('deploy', { config, environment: 'bundle', image: v2.image });
      expect(d.code, d.log).toBe(0);
      const replicas = docker(
        ['service', 'inspect', '--format', '{{.Spec.Mode.Replicated.Replicas}}', d.outputs['target']!],
        { host: swarm().manager },
      );
      expect(replicas.trim()).toBe('2');
      const f = await runAction('flip', { config, environment: 'bundle', target: d.outputs['target']! });
      expect(f.code, f.log).toBe(0);
      expect(await (await fetch(`http://${listen}/`)).text()).toBe('v2\n');
      expect((await new CaddyRouter(caddy.admin).dials(app, 'bundle')).length).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await caddy.stop();
    }
  });
});
