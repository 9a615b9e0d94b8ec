import { expect, it } from 'vitest';
import { answer, cli, containers, routeOf, useAppWorld } from './fixtures/apps/world.ts';
import { docker, freePort, services } from './helpers/services.ts';

/** The anew CLI (dist/cli) runs the same core: deploy, flip, status, rollback, cleanup from a terminal. */
const app = 'e2e-cli';
const world = useAppWorld(app);

const outputs = (stdout: string) =>
  Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

it('deploys, flips, rolls back and cleans up from the command line', async () => {
  const listen = `127.0.0.1:${await freePort()}`;
  const where = ['--app', app, '--environment', 'cli', '--docker-host', services.dockerHost];
  const routing = [...where, '--router-url', world.caddy.admin, '--listen', listen];

  const d1 = cli([
    'deploy',
    ...where,
    '--image',
    world.images[0]!.image,
    '--health-path',
    '/health',
    '--memory',
    '64m',
    '--cpus',
    '0.5',
  ]);
  expect(d1.code, d1.stderr).toBe(0);
  const t1 = outputs(d1.stdout)['target']!;
  const limits = docker([
    'inspect',
    '--format',
    '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}',
    t1,
  ]);
  expect(limits.trim()).toBe(`${64 * 2 ** 20} 500000000 unless-stopped`);
  expect(cli(['flip', ...routing, '--target', t1]).code).toBe(0);
  const d2 = cli(['deploy', ...where, '--image', world.images[1]!.image]);
  const t2 = outputs(d2.stdout)['target']!;
  const f = cli(['flip', ...routing, '--target', t2]);
  expect(outputs(f.stdout)).toMatchObject({ 'previous-target': t1 });
  expect(await answer(`http://${listen}/`)).toBe('200 v2');

  const s = cli(['status', '--app', app, '--router-url', world.caddy.admin, '--json']);
  expect(s.code, s.stderr).toBe(0);
  const [env] = JSON.parse(s.stdout) as {
    environment: string;
    live: string;
    drift: string[];
    releases: { target: string; traffic: number }[];
  }[];
  expect(env).toMatchObject({ environment: 'cli', drift: [] });
  expect(env!.releases.map((r) => [r.target, r.traffic])).toEqual([
    [t2, 100],
    [t1, 0],
  ]);

  expect(outputs(cli(['rollback', ...routing]).stdout)).toMatchObject({ target: t1 });
  expect(await answer(`http://${listen}/`)).toBe('200 v1');

  const moved = cli([
    'flip',
    ...where,
    '--router-url',
    world.caddy.admin,
    '--listen',
    `127.0.0.1:${await freePort()}`,
    '--target',
    t2,
  ]);
  expect(moved.code).toBe(1);
  expect(moved.stderr).toMatch(/is served on 127\.0\.0\.1:\d+, not/);

  const c = cli(['cleanup', ...where, '--router-url', world.caddy.admin, '--all']);
  expect(c.code, c.stderr).toBe(0);
  expect(containers(app)).toEqual([]);
  expect(await routeOf(world.caddy.admin, app, 'cli')).toBeUndefined();
});

it('explains its mistakes: unknown options, missing values, tags', () => {
  expect(cli(['deploy', '--help']).stdout).toMatch(
    /Usage: anew deploy --image VALUE --environment VALUE[\s\S]*--image VALUE .*\(required\)/,
  );
  expect(cli(['flip', '--environment', 'x', '--colour', 'blue']).stderr).toMatch(/unknown option --colour/);
  expect(cli(['flip', '--environment']).stderr).toMatch(/option --environment needs a value/);
  const tag = cli([
    'deploy',
    '--environment',
    'x',
    '--app',
    app,
    '--image',
    `${services.registry}/anew-test/${app}:v1`,
  ]);
  expect(tag.code).toBe(2);
  expect(tag.stderr).toMatch(/is not pinned by digest/);
  expect(cli(['nope']).code).toBe(2);
});

it('status reports a target that runs another image than its label says, and works without the router', async () => {
  // What a hand-made change looks like: a container with anew's labels for v1 that runs v2.
  const labels = {
    'dev.anew.app': app,
    'dev.anew.environment': 'drift',
    'dev.anew.release': '20260101-000000-d1f7d1',
    'dev.anew.digest': world.images[0]!.digest,
    'dev.anew.image': world.images[0]!.image,
    'dev.anew.created': '2026-01-01T00:00:00.000Z',
    'dev.anew.address': `127.0.0.1:${await freePort()}`,
  };
  docker(['pull', '--quiet', world.images[1]!.image]);
  docker([
    'run',
    '-d',
    '--name',
    'anew-e2e-cli-drift',
    '--network',
    'host',
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '-e',
    `PORT=${labels['dev.anew.address'].split(':')[1]}`,
    world.images[1]!.image,
  ]);
  const unreachable = `http://127.0.0.1:${await freePort()}`;
  const s = cli(['status', '--app', app, '--environment', 'drift', '--router-url', unreachable]);
  expect(s.code).toBe(3);
  expect(s.stderr).toMatch(/traffic is unknown: Caddy's admin API .* did not answer/);
  expect(s.stdout).toMatch(
    new RegExp(
      `DRIFT +target anew-e2e-cli-drift .* runs image sha256:.*, not ${world.images[0]!.digest} as its label says`,
    ),
  );
  docker(['rm', '-f', 'anew-e2e-cli-drift']);
});
