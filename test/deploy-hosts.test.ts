import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { answer, containers, routeDials } from './fixtures/apps/world.ts';
import { runAction } from './helpers/action.ts';
import { docker, freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * Several hosts: a second, private Docker engine (its own data root, vfs,
 * host network) beside the test engine. Every host runs the release and the
 * route spreads traffic over them; when one host fails, none is kept.
 */
const app = 'e2e-hosts';
let image: TestImage;
let caddy: RunningService & { admin: string };
let second: { host: string; dir: string; child: ChildProcess };

async function startEngine() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-engine2-'));
  const host = `unix://${dir}/docker.sock`;
  const child = spawn(
    'dockerd',
    [
      '--storage-driver',
      'vfs',
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--exec-opt',
      'native.cgroupdriver=cgroupfs',
      '--data-root',
      `${dir}/root`,
      '--exec-root',
      `${dir}/exec`,
      '-H',
      host,
      '--pidfile',
      `${dir}/pid`,
    ],
    { stdio: ['ignore', fs.openSync(`${dir}/log`, 'a'), fs.openSync(`${dir}/log`, 'a')] },
  );
  for (let i = 0; i < 100; i++) {
    try {
      docker(['version'], { host });
      return { host, dir, child };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`the second engine did not start: ${fs.readFileSync(`${dir}/log`, 'utf8').slice(-2000)}`);
}

beforeAll(async () => {
  image = buildAppImage(`anew-test/${app}`, { version: 'v1' });
  caddy = await startCaddy();
  second = await startEngine();
}, 120_000);

afterAll(async () => {
  // Caddy is stopped whatever happens to the engine's cleanup.
  try {
    if (image) removeApp(app, [image]);
    if (second) {
      try {
        removeApp(app, [image], second.host);
      } catch {}
      const exited = new Promise((r) => second.child.once('exit', r));
      second.child.kill('SIGTERM');
      await exited;
      // dockerd leaves its network namespace mounted.
      const netns = `${second.dir}/exec/netns`;
      for (const ns of fs.existsSync(netns) ? fs.readdirSync(netns, { withFileTypes: true }) : [])
        execFileSync('umount', [`${second.dir}/exec/netns/${ns.name}`], { stdio: 'ignore' });
      fs.rmSync(second.dir, { recursive: true, force: true });
    }
  } finally {
    await caddy?.stop();
  }
});

it('runs the release on every host and spreads the route over them', async () => {
  const hosts = `${services.dockerHost}\n${second.host}`;
  const listen = `127.0.0.1:${await freePort()}`;
  const d = await runAction('deploy', {
    app,
    environment: 'fleet',
    'docker-host': hosts,
    image: image.image,
  });
  expect(d.code, d.log).toBe(0);
  const [a] = containers(app);
  const [b] = containers(app, second.host);
  expect(a!.name).toBe(d.outputs['target']);
  expect(b!.name).toBe(d.outputs['target']);
  expect(a!.release).toBe(b!.release);
  const f = await runAction('flip', {
    app,
    environment: 'fleet',
    'docker-host': hosts,
    'router-url': caddy.admin,
    listen,
    target: d.outputs['target']!,
  });
  expect(f.code, f.log).toBe(0);
  expect((await routeDials(caddy.admin, app, 'fleet')).sort()).toEqual([a!.address, b!.address].sort());
  // Stop one host's target: Caddy's retries send its share to the other, so no request fails.
  docker(['stop', '--time', '1', b!.name], { host: second.host });
  for (let i = 0; i < 6; i++) expect(await answer(`http://${listen}/`)).toBe('200 v1');
  docker(['rm', '-f', a!.name]);
  docker(['rm', '-f', b!.name], { host: second.host });
});

it('keeps none when the release fails on one host', async () => {
  // The same engine twice (the socket and ssh): the second start of the same name fails.
  const d = await runAction('deploy', {
    app,
    environment: 'half',
    'docker-host': `${services.dockerHost}\n${services.sshDockerHost}`,
    image: image.image,
  });
  expect(d.code).not.toBe(0);
  expect(d.log).toMatch(/did not become healthy, so none of it was kept/);
  expect(d.log).toMatch(/already in use/);
  expect(containers(app)).toEqual([]);
});
