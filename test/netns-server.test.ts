import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildAppImage, type TestImage } from './fixtures/apps/images.ts';
import { answer, cli } from './fixtures/apps/world.ts';
import { NODE24, runAction } from './helpers/action.ts';
import { docker, services } from './helpers/services.ts';

/**
 * A server as a hosted runner meets it: a Docker engine, HAProxy and sshd in
 * a network namespace of their own (test/services/netns-server.sh), reachable
 * from here only on ssh and the router's public ports. The committed bundles
 * deploy, flip and roll back with `docker-host: ssh://…` and `router-url:
 * ssh://…/<master socket>`: the health checks, the router's admin API and
 * its files all go through ssh; the public address is the only one a client
 * uses.
 */
const app = 'e2e-netns';
const environment = 'edge';
const srv = services.netnsServer;
let images: TestImage[] = [];
const listenPort = srv.routerPorts[0] + 1;
const site = `http://${srv.address}:${listenPort}/`;
// No DOCKER_HOST in the environment: only the inputs name the server.
const env = { DOCKER_HOST: undefined };
const target = { app, environment, 'docker-host': srv.dockerHost };
const router = {
  ...target,
  router: 'haproxy',
  'router-url': `${srv.dockerHost}${srv.haproxyMaster}`,
  'router-config': srv.haproxyConfig,
};

function serverDocker(args: string[]): string {
  return docker(args, { host: srv.dockerSock });
}

/** Whether a TCP connection to address:port opens within 2 s, from this namespace or the server's. */
function connects(address: string, port: number, fromServer = false): boolean {
  const check = `const s=require("net").connect(${port},"${address}",()=>process.exit(0));s.setTimeout(2000,()=>process.exit(1));s.on("error",()=>process.exit(1))`;
  const argv = fromServer
    ? ['nsenter', `--net=/run/netns/${srv.namespace}`, process.execPath, '-e', check]
    : [process.execPath, '-e', check];
  try {
    execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function cleanupAll(): Promise<void> {
  await runAction('cleanup', { ...router, all: 'true' }, { env });
  const ids = serverDocker(['ps', '-aq', '--filter', `label=dev.anew.app=${app}`])
    .split('\n')
    .filter(Boolean);
  if (ids.length) serverDocker(['rm', '-f', ...ids]);
}

beforeAll(async () => {
  images = [
    buildAppImage(`anew-test/${app}`, { version: 'v1' }),
    buildAppImage(`anew-test/${app}`, { version: 'v2' }),
  ];
  // What a failed run of this file left (a route holds its listen address).
  await cleanupAll();
}, 240_000);

afterAll(async () => {
  await cleanupAll();
  for (const i of images) {
    for (const host of [services.dockerHost, srv.dockerSock])
      try {
        docker(['image', 'rm', '--force', i.image], { host });
      } catch {
        // already gone
      }
  }
}, 120_000);

it('only ssh and the router’s public port are reachable on the server', () => {
  expect(connects(srv.address, 22)).toBe(true);
  for (const port of srv.closedPorts) {
    // Each listens on the server (the engine's TCP API, HAProxy's stats): the firewall is what keeps it in.
    expect(connects(srv.address, port, true), `port ${port} on the server`).toBe(true);
    expect(connects(srv.address, port), `port ${port} from outside`).toBe(false);
  }
});

it('deploys, flips and rolls back through ssh alone, with health checks through the server', async () => {
  const listen = `:${listenPort}`;
  const d1 = await runAction('deploy', { ...router, image: images[0]!.image }, { env, node: NODE24 });
  expect(d1.code, d1.log).toBe(0);
  // The target's own address is the server's: healthy, yet closed to this namespace.
  const own = new URL(d1.outputs['url']!);
  expect(own.hostname).toBe(srv.address);
  expect(connects(own.hostname, Number(own.port))).toBe(false);
  expect(connects(own.hostname, Number(own.port), true)).toBe(true);

  const f1 = await runAction('flip', { ...router, listen, target: d1.outputs['target']! }, { env });
  expect(f1.code, f1.log).toBe(0);
  expect(await answer(site)).toBe('200 v1');

  const d2 = await runAction('deploy', { ...router, image: images[1]!.image }, { env });
  expect(d2.code, d2.log).toBe(0);
  expect(await answer(site)).toBe('200 v1');

  // The first answer from v2 on the public address, one request at a time (load runs on loopback
  // only, in test/haproxy-actions.test.ts; here the path is what is under test).
  const started = Date.now();
  let firstV2 = 0;
  const watch = (async () => {
    while (!firstV2 && Date.now() - started < 60_000) {
      if ((await answer(site).catch(() => '')) === '200 v2') firstV2 = Date.now() - started;
      else await new Promise((r) => setTimeout(r, 25));
    }
  })();
  // A canary step: its error rate is sampled on the router's public address, as users reach it.
  const f2 = await runAction(
    'flip',
    { ...router, target: d2.outputs['target']!, strategy: 'canary', steps: '50', interval: '1s' },
    { env },
  );
  const flipMs = Date.now() - started;
  expect(f2.code, f2.log).toBe(0);
  expect(f2.log).toMatch(/0 of \d+ requests through the router failed/);
  await watch;
  expect(await answer(site)).toBe('200 v2');

  // Only the environment and where the server is: the listen address follows the live route.
  const r = await runAction('rollback', router, { env });
  expect(r.code, r.log).toBe(0);
  expect(await answer(site)).toBe('200 v1');
  console.log(
    `netns server over ssh: flip took ${flipMs} ms, the first answer from v2 came ${firstV2} ms after it began`,
  );

  // status over ssh: the engine's labels and HAProxy's runtime, no drift.
  const s = cli(
    [
      'status',
      '--app',
      app,
      '--docker-host',
      srv.dockerHost,
      '--router',
      'haproxy',
      '--router-url',
      router['router-url'],
      '--router-config',
      srv.haproxyConfig,
    ],
    {
      DOCKER_HOST: '',
    },
  );
  expect(s.code, s.stdout + s.stderr).toBe(0);
  expect(s.stdout).toMatch(/LIVE 100%/);
  // No ssh connection outlives a step.
  expect(sshProcessesTo(srv.address)).toEqual([]);
});

/** ssh clients to the server still running (the registry forwards of the services script aside). */
function sshProcessesTo(address: string): string[] {
  const out = execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => /^ssh /.test(l) && l.includes(address) && !l.includes(' -R '));
}

it('checks a target on a named network of the remote engine through the server', async () => {
  const network = 'anew-e2e-netns';
  // A subnet beside the link's /30, link-local like it: it exists only inside the server's namespace.
  const subnet = `${srv.address.split('.').slice(0, 3).join('.')}.8/29`;
  try {
    serverDocker(['network', 'create', '--subnet', subnet, network]);
    const d = await runAction(
      'deploy',
      { ...router, environment: 'inside', network, port: '8080', image: images[0]!.image },
      { env },
    );
    expect(d.code, d.log).toBe(0);
    // The target's address is on the server's own network, which this namespace has no route to
    // (so it is not dialled from here: the check went through the server).
    const own = new URL(d.outputs['url']!);
    expect(own.hostname.startsWith(subnet.slice(0, subnet.lastIndexOf('.') + 1))).toBe(true);
    expect(Number(own.hostname.split('.')[3])).toBeGreaterThan(8);
    expect(Number(own.hostname.split('.')[3])).toBeLessThan(16);
  } finally {
    const ids = serverDocker(['ps', '-aq', '--filter', `label=dev.anew.environment=inside`])
      .split('\n')
      .filter(Boolean);
    if (ids.length) serverDocker(['rm', '-f', ...ids]);
    serverDocker(['network', 'rm', network]);
  }
});
