import { expect, it } from 'vitest';
import { startLoad } from './fixtures/apps/load.mjs';
import { answer, cli, containers, useAppWorld } from './fixtures/apps/world.ts';
import { NODE24, runAction } from './helpers/action.ts';
import { docker, freePort, services } from './helpers/services.ts';

/**
 * The same flow over ssh:// — a real ssh connection (test/services/start.sh
 * runs sshd and writes an ssh host alias for it) to this machine's engine:
 * the docker CLI dials through ssh, and the router reaches the targets at
 * the host name ssh resolves the alias to.
 */
const app = 'e2e-ssh';
const environment = 'staging';
const world = useAppWorld(app);

it('deploys, flips under load and rolls back on an engine reached over ssh://', async () => {
  const ssh = services.sshDockerHost;
  expect(ssh).toMatch(/^ssh:\/\//);
  const listen = `127.0.0.1:${await freePort()}`;
  const site = `http://${listen}/`;
  // No DOCKER_HOST in the environment: only the input names the engine.
  const env = { DOCKER_HOST: undefined };
  const target = { app, environment, 'docker-host': ssh };
  const routing = { ...target, 'router-url': world.caddy.admin, listen };

  const d1 = await runAction('deploy', { ...target, image: world.images[0]!.image }, { env, node: NODE24 });
  expect(d1.code, d1.log).toBe(0);
  expect(d1.outputs['url']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const f1 = await runAction('flip', { ...routing, target: d1.outputs['target']! }, { env });
  expect(f1.code, f1.log).toBe(0);
  expect(await answer(site)).toBe('200 v1');

  // The app's variables reach the remote container through an env file the local CLI reads.
  const d2 = await runAction(
    'deploy',
    { ...target, image: world.images[1]!.image, env: 'DOCKER_TOKEN=ssh-e1f0-not-for-argv' },
    { env },
  );
  expect(d2.code, d2.log).toBe(0);
  expect(d2.log).not.toContain('ssh-e1f0-not-for-argv');
  expect(
    JSON.parse(docker(['inspect', '--format', '{{json .Config.Env}}', d2.outputs['target']!])),
  ).toContain('DOCKER_TOKEN=ssh-e1f0-not-for-argv');
  expect(await answer(site)).toBe('200 v1');

  const load = startLoad(site, { workers: 2, maxMs: 90_000 });
  await load.reach(500);
  const f = await runAction('flip', { ...routing, target: d2.outputs['target']! }, { env });
  expect(f.code, f.log).toBe(0);
  expect(await answer(site)).toBe('200 v2');
  const r = await runAction('rollback', routing, { env });
  expect(r.code, r.log).toBe(0);
  await load.reach(load.count() + 500);
  const report = await load.stop();
  expect(report.errors).toEqual([]);
  expect(Object.keys(report.bodies).sort()).toEqual(['v1', 'v2']);
  expect(await answer(site)).toBe('200 v1');

  // The labels say which engine each target is on; status reads them over ssh.
  expect(containers(app).map((c) => c.state)).toEqual(['running', 'running']);
  const s = cli(['status', '--app', app, '--docker-host', ssh, '--router-url', world.caddy.admin], {
    DOCKER_HOST: '',
  });
  expect(s.code, s.stdout + s.stderr).toBe(0);
  expect(s.stdout).toContain(`${ssh}=running`);
  expect(s.stdout).toMatch(/LIVE 100%/);
});
