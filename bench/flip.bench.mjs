// Flip and rollback against the in-place way, and source → live URL.
//
// 1. Switch latency (from the call to the first response from the new
//    target) and failed requests during the switch, under keep-alive load:
//    - anew flip / rollback: the committed bundles, a real Caddy, the targets
//      already running and healthy (that is what deploy leaves);
//    - in place: `docker rm -f` the old container, `docker run` the new one on
//      the same port (the fastest in-place way; a graceful `docker stop` only
//      adds its timeout), load straight to that port.
// 2. Source → live URL for the sample app: anew build (daemonless, dist/build)
//    + deploy + flip, each timed, against a goal of 3 s.
// Standalone: prints its figures and ratios. Loopback only, bounded load.
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLoad } from '../test/fixtures/apps/load.mjs';
import { machine, median, requireDist, root, runBundle, servicesEnv, table, version } from './lib.mjs';

const RUNS = Number(process.env.ANEW_BENCH_RUNS ?? 3);
const env = servicesEnv();
const DOCKER_HOST = env.ANEW_DOCKER_HOST;
const REGISTRY = env.ANEW_REGISTRY;
for (const n of ['deploy', 'flip', 'rollback', 'build']) requireDist(n);
const app = 'bench-flip';
const cleanups = [];

const dockerAsync = (args) =>
  new Promise((resolve, reject) =>
    execFile('docker', args, { env: { ...process.env, DOCKER_HOST } }, (e, stdout) =>
      e ? reject(e) : resolve(stdout),
    ),
  );

const docker = (args, opts = {}) => {
  const r = spawnSync('docker', args, { env: { ...process.env, DOCKER_HOST }, encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startCaddy() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-caddy-'));
  fs.writeFileSync(path.join(dir, 'caddy.json'), JSON.stringify({ admin: { listen: `127.0.0.1:${port}` } }));
  const child = spawn('caddy', ['run', '--config', path.join(dir, 'caddy.json')], {
    stdio: 'ignore',
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  const admin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${admin}/config/`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return admin;
}

/** The version app of the tests (busybox httpd printing its version), pushed by digest. */
function appImage(version) {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-app-'));
  fs.copyFileSync(path.join(root, 'test/fixtures/apps/version/Dockerfile'), path.join(ctx, 'Dockerfile'));
  fs.copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
  const tag = `${REGISTRY}/anew-bench/${app}:${version}`;
  docker(['build', '--quiet', '--build-arg', `VERSION=${version}`, '-t', tag, ctx]);
  docker(['push', '--quiet', tag]);
  const pinned = JSON.parse(docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', tag])).find(
    (d) => d.startsWith(`${REGISTRY}/anew-bench/${app}@`),
  );
  fs.rmSync(ctx, { recursive: true, force: true });
  cleanups.push(() => docker(['image', 'rm', '--force', tag, pinned], { stdio: 'ignore' }));
  return pinned;
}

function must(r, what) {
  if (r.code !== 0) throw new Error(`${what} failed:\n${r.log}`);
  return r;
}

/**
 * Runs `change` (a function that starts the switch) while 2 keep-alive
 * workers load `url`, and a probe (a fresh connection every 2 ms) waits for
 * the first answer `want`. Returns the latency to that answer and the load's
 * failures, with and without the standard retry on a closed idle connection.
 */
async function measureSwitch(url, want, change) {
  const load = startLoad(url, { workers: 2, maxMs: 60_000 });
  await load.reach(300);
  const t0 = performance.now();
  const done = change();
  let first;
  while (first === undefined && performance.now() - t0 < 30_000) {
    try {
      const body = (await (await fetch(url, { headers: { connection: 'close' } })).text()).trim();
      if (body === want) first = performance.now() - t0;
    } catch {}
    if (first === undefined) await new Promise((r) => setTimeout(r, 2));
  }
  await done;
  const total = performance.now() - t0;
  await load.reach(load.count() + 300);
  const report = await load.stop();
  return {
    first: first ?? Number.NaN,
    total,
    // A client that retries an idempotent request once, on a new connection, when
    // its connection closed before any answer (RFC 9112 §9.3.1) sees `failed`;
    // one that never retries also sees the retried ones fail.
    failed: report.failed,
    failedNoRetry: report.failed + report.retriedOnClosedConnection,
    requests: report.requests,
    slowest: report.slowestMs,
    errors: report.errors,
  };
}

const spawnBundle = (name, inputs) =>
  new Promise((resolve) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-run-'));
    const e = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_')));
    for (const [k, v] of Object.entries(inputs)) e[`INPUT_${k.toUpperCase()}`] = v;
    Object.assign(e, { GITHUB_OUTPUT: path.join(tmp, 'out'), RUNNER_TEMP: tmp });
    fs.writeFileSync(e.GITHUB_OUTPUT, '');
    const child = spawn(process.execPath, [requireDist(name)], { env: e, stdio: 'ignore' });
    child.on('exit', (code) => {
      fs.rmSync(tmp, { recursive: true, force: true });
      resolve(code);
    });
  });

const spawnCli = (args) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/cli/index.cjs'), ...args], {
      stdio: 'ignore',
    });
    child.on('exit', resolve);
  });

async function main() {
  console.log(
    `Machine: ${machine()}; ${version('caddy', ['version'])}; ${version('docker', ['--version'])}; runs: ${RUNS}`,
  );
  const admin = await startCaddy();
  const listen = `127.0.0.1:${await freePort()}`;
  const site = `http://${listen}/`;
  const [v1, v2] = [appImage('v1'), appImage('v2')];
  cleanups.push(() => {
    const ids = docker(['ps', '-aq', '--filter', `label=dev.anew.app=${app}`])
      .split('\n')
      .filter(Boolean);
    if (ids.length) docker(['rm', '-f', ...ids]);
  });

  // --- anew: two warm targets, the route switched between them ------------------
  const target = { app, environment: 'bench', 'docker-host': DOCKER_HOST };
  const routing = { ...target, 'router-url': admin, listen };
  const t1 = must(runBundle('deploy', { ...target, image: v1 }), 'deploy v1').outputs.target;
  must(runBundle('flip', { ...routing, target: t1 }), 'flip v1');
  const t2 = must(runBundle('deploy', { ...target, image: v2 }), 'deploy v2').outputs.target;
  const flips = [];
  const rollbacks = [];
  const cliFlips = [];
  const cliArgs = [
    '--app',
    app,
    '--environment',
    'bench',
    '--docker-host',
    DOCKER_HOST,
    '--router-url',
    admin,
    '--listen',
    listen,
  ];
  for (let i = 0; i < RUNS; i++) {
    flips.push(await measureSwitch(site, 'v2', () => spawnBundle('flip', { ...routing, target: t2 })));
    rollbacks.push(await measureSwitch(site, 'v1', () => spawnBundle('rollback', routing)));
  }
  // The same core from the anew CLI (no runner plumbing: INPUT_* variables, output files).
  for (let i = 0; i < RUNS; i++) {
    cliFlips.push(await measureSwitch(site, 'v2', () => spawnCli(['flip', ...cliArgs, '--target', t2])));
    await spawnCli(['rollback', ...cliArgs]);
  }

  // --- in place: stop the old container, start the new one on the same port -----
  const port = await freePort();
  const direct = `http://127.0.0.1:${port}/`;
  const runArgs = (image, name) => [
    'run',
    '-d',
    '--name',
    name,
    '--network',
    'host',
    '--label',
    `dev.anew.app=${app}`,
    '-e',
    `PORT=${port}`,
    image,
  ];
  docker(runArgs(v1, 'bench-inplace-0'));
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(direct)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  const inplace = [];
  let current = 0;
  for (let i = 0; i < RUNS * 2; i++) {
    const next = current + 1;
    const want = next % 2 === 0 ? 'v1' : 'v2';
    inplace.push(
      // Asynchronously, so the load goes on while the containers change.
      await measureSwitch(direct, want, async () => {
        await dockerAsync(['rm', '-f', `bench-inplace-${current}`]);
        await dockerAsync(runArgs(want === 'v1' ? v1 : v2, `bench-inplace-${next}`));
      }),
    );
    current = next;
  }

  const fmt = (xs, k) => `${median(xs.map((x) => x[k])).toFixed(0)}`;
  const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0);
  console.log(
    `\nSwitch under keep-alive load (2 workers), ${RUNS} runs (in place: ${RUNS * 2}); latency = median ms; failed = requests with no 2xx, summed:`,
  );
  const row = (name, xs) => [
    name,
    fmt(xs, 'first'),
    fmt(xs, 'total'),
    `${sum(xs, 'failed')} / ${sum(xs, 'requests')}`,
    `${sum(xs, 'failedNoRetry')}`,
    fmt(xs, 'slowest'),
  ];
  table([
    [
      'way',
      'call → first answer of new (ms)',
      'call → done (ms)',
      'failed / requests',
      'failed, client never retries',
      'slowest request (ms)',
    ],
    row('anew flip (Caddy, warm target)', flips),
    row('anew rollback', rollbacks),
    row('anew flip from the CLI', cliFlips),
    row('in place (rm -f old, run new, same port)', inplace),
  ]);
  const ratio = median(inplace.map((x) => x.first)) / median(flips.map((x) => x.first));
  for (const [name, xs] of [
    ['anew flip', flips],
    ['anew rollback', rollbacks],
    ['anew flip (CLI)', cliFlips],
    ['in place', inplace],
  ]) {
    const errors = [...new Set(xs.flatMap((x) => x.errors))];
    if (errors.length) console.log(`${name}: ${errors.slice(0, 4).join('; ')}`);
  }
  console.log(
    `in place / anew flip, time to the new version: ${ratio.toFixed(2)}×; failed requests: ${sum(inplace, 'failed')} in place against ${sum(flips, 'failed') + sum(rollbacks, 'failed')} for anew (flip + rollback).`,
  );
  console.log(
    'Most of a flip is node starting and loading the bundle, then its checks (labels, health now, compare-and-swap); the switch in Caddy itself is one request. In place is as fast as the app starts (busybox: instant) and takes every request made meanwhile down with it.',
  );

  // --- source → live URL: build (daemonless) + deploy + flip -------------------
  const paths = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-sample-'));
    fs.cpSync(path.join(root, 'test/fixtures/sample-app'), ctx, { recursive: true });
    fs.copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
    // A change per run, as a commit would make: the build is never a cache hit.
    fs.appendFileSync(path.join(ctx, 'site/index.html'), `\n<!-- run ${Date.now()}-${i} -->\n`);
    const environment = `sample-${i}`;
    const b = must(
      runBundle('build', {
        image: `${REGISTRY}/anew-bench/sample-app`,
        context: ctx,
        base: 'scratch',
        files: 'busybox:/bin/busybox\nsite/:/www/',
        env: 'PORT=8080',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, expanded in the container
        entrypoint: '["/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p \\"${PORT}\\" -h /www"]',
      }),
      'build',
    );
    const d = must(
      runBundle('deploy', { app, environment, 'docker-host': DOCKER_HOST, image: b.outputs.image }),
      'deploy',
    );
    const sampleListen = `127.0.0.1:${await freePort()}`;
    const f = must(
      runBundle('flip', {
        app,
        environment,
        'docker-host': DOCKER_HOST,
        'router-url': admin,
        listen: sampleListen,
        target: d.outputs.target,
      }),
      'flip',
    );
    const live = await fetch(`http://${sampleListen}/`);
    if (!live.ok) throw new Error(`the live URL answered ${live.status}`);
    paths.push({ build: b.ms, deploy: d.ms, flip: f.ms, total: b.ms + d.ms + f.ms });
    fs.rmSync(ctx, { recursive: true, force: true });
    cleanups.push(() => docker(['image', 'rm', '--force', b.outputs.image], { stdio: 'ignore' }));
  }
  console.log(
    '\nSource → live URL for the sample app (anew build daemonless + deploy + flip, committed bundles), median ms:',
  );
  table([
    ['build', 'deploy (pull, start, healthy)', 'flip', 'total', 'goal'],
    [fmt(paths, 'build'), fmt(paths, 'deploy'), fmt(paths, 'flip'), fmt(paths, 'total'), '≤ 3000'],
  ]);
}

try {
  await main();
} finally {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {}
  }
}
