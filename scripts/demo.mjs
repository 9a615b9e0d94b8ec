// The main job's story, on this machine: replace, switch, and switch back.
// Build and attest v1, deploy it and flip traffic to it; build v2 (a visible
// change), deploy it and flip it as a canary while a small load runs against
// the URL; roll back to v1; then `anew status`. Every step is the `anew`
// command (dist/cli), the same core and inputs as the workflow steps. It ends
// with a timeline (step, what changed, how long, requests served and failed
// during the step) and the URL, which serves v1 again.
//
// Run through scripts/demo.sh (npm run demo), which starts the services first.
// Running it again neither fails nor redeploys a digest that is already live:
// an unchanged v1 is a cache hit, and the step says it is live already.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/index.cjs');
const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the demo through scripts/demo.sh (npm run demo)`);
  return v;
};
const registry = need('ANEW_REGISTRY');
const dockerHost = need('ANEW_DOCKER_HOST');
// HAProxy moves traffic through its runtime API: the load below loses no request, even though it never retries.
const routerUrl = need('ANEW_HAPROXY_MASTER');
const routerConfig = need('ANEW_HAPROXY_CONFIG');
const port = Number(process.env['ANEW_DEMO_PORT'] || 8088);
const url = `http://127.0.0.1:${port}/`;
const app = 'sample-app';
// Another name lets the tests run the demo beside a user's.
const environment = process.env['ANEW_DEMO_ENVIRONMENT'] || 'demo';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-demo-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

// What the runner would set for a push to main of anew-dev/sample-app (attest records it as provenance).
const gitSha = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout?.trim();
const runEnv = {
  ...process.env,
  GITHUB_REPOSITORY: 'anew-dev/sample-app',
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_WORKFLOW_REF: 'anew-dev/sample-app/.github/workflows/release.yml@refs/heads/main',
  GITHUB_SHA: /^[0-9a-f]{40}$/.test(gitSha ?? '') ? gitSha : '0'.repeat(40),
  GITHUB_RUN_ID: '1',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_EVENT_NAME: 'push',
  RUNNER_TEMP: work,
};

/**
 * Runs one anew command; its log goes to the terminal (without the argv lines), its outputs (one JSON object)
 * come back. Asynchronous, so the load below keeps running while a step works.
 */
function anew(command, args, okCodes = [0]) {
  process.stdout.write(`  $ anew ${command} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, command, ...args, '--json'], {
      env: runEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c) => {
      err += c;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const shown = err
        .split('\n')
        .filter((l) => l.trim() !== '' && !/^\s*Running: /.test(l))
        .map((l) => `    ${l.length > 150 ? `${l.slice(0, 149)}…` : l}`);
      if (shown.length > 0) process.stdout.write(`${shown.join('\n')}\n`);
      if (!okCodes.includes(code)) {
        process.stdout.write(out);
        reject(new Error(`anew ${command} failed (exit ${code})`));
      } else resolve(JSON.parse(out));
    });
  });
}

// ── A small load that never retries: every request's outcome, stamped, so each step counts its own.
function startLoad() {
  const outcomes = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  let stopped = false;
  const one = () =>
    new Promise((resolve) => {
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          outcomes.push([performance.now(), res.statusCode >= 200 && res.statusCode < 300]);
          resolve();
        });
        res.on('error', () => {
          outcomes.push([performance.now(), false]);
          resolve();
        });
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        outcomes.push([performance.now(), false]);
        resolve();
      });
    });
  const deadline = Date.now() + 120_000; // bounded, whatever happens
  const loop = async () => {
    while (!stopped && Date.now() < deadline) {
      await one();
      await new Promise((r) => setTimeout(r, 5)); // a small load: a few hundred requests a second
    }
  };
  const done = Promise.all([loop(), loop()]);
  return {
    between(from, to) {
      const inside = outcomes.filter(([t]) => t >= from && t < to);
      return { served: inside.filter(([, ok]) => ok).length, failed: inside.filter(([, ok]) => !ok).length };
    },
    async stop() {
      stopped = true;
      await done;
      agent.destroy();
    },
  };
}

const timeline = [];
let load;
async function step(name, fn) {
  process.stdout.write(`\n▸ ${name}\n`);
  const started = performance.now();
  const changed = await fn();
  const ended = performance.now();
  timeline.push({ name, changed, ms: ended - started, ...(load ? load.between(started, ended) : {}) });
}

function appVersion(version) {
  const dir = path.join(work, `app-${version}`);
  fs.cpSync(path.join(root, 'test/fixtures/sample-app'), dir, { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'busybox'));
  if (version !== 'v1') {
    const index = path.join(dir, 'site/index.html');
    fs.writeFileSync(
      index,
      fs
        .readFileSync(index, 'utf8')
        .replace('<h1>Hello from anew</h1>', `<h1>Hello from anew, ${version}</h1>`),
    );
  }
  return dir;
}

// A signing key for this demo; in a workflow, attest signs keyless with the job's OIDC token.
const key = path.join(work, 'signing.pem');
const pub = path.join(work, 'signing.pub');
execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);

const where = [
  '--app',
  app,
  '--environment',
  environment,
  '--docker-host',
  dockerHost,
  '--router',
  'haproxy',
  '--router-url',
  routerUrl,
  '--router-config',
  routerConfig,
];

async function buildAndAttest(version) {
  const built = await anew('build', [
    '--image',
    `${registry}/anew-demo/sample-app`,
    '--context',
    appVersion(version),
    '--base',
    'scratch',
    '--files',
    'busybox:/bin/busybox',
    '--files',
    'site/:/www/',
    '--env',
    'PORT=8080',
    '--entrypoint',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell in the image expands it
    '["/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p \\"${PORT}\\" -h /www"]',
  ]);
  await anew('attest', ['--image', built.image, '--signing-key-file', key]);
  return built;
}

function deploy(image) {
  return anew('deploy', [
    ...where,
    '--image',
    image,
    '--keep',
    '1',
    '--require-provenance',
    '--public-key',
    pub,
    '--source-repository',
    'anew-dev/sample-app',
  ]);
}

/** The digest the environment serves now, read from the router and the engine (no state file). */
async function liveDigest() {
  // Exit 3 is drift, which status prints: the demo goes on and shows it.
  const envs = await anew('status', where, [0, 3]);
  const env = envs.find((e) => e.environment === environment);
  return env?.releases.find((r) => r.release === env.live)?.digest;
}

const short = (digest) => digest.slice(7, 19);
let v1;
let v2;

await step('build and attest v1', async () => {
  v1 = await buildAndAttest('v1');
  return `v1 = ${short(v1.digest)}${v1['cache-hit'] === 'true' || v1['cache-hit'] === true ? ' (unchanged: cache hit)' : ''}`;
});
await step('deploy and flip v1', async () => {
  if ((await liveDigest()) === v1.digest) return `v1 ${short(v1.digest)} is live already: not redeployed`;
  const d = await deploy(v1.image);
  await anew('flip', [...where, '--target', d.target, '--listen', `127.0.0.1:${port}`]);
  return `v1 takes all traffic (${d.target})`;
});
load = startLoad();
await step('build and attest v2', async () => {
  v2 = await buildAndAttest('v2');
  return `v2 = ${short(v2.digest)}: the page's heading changed`;
});
let v2Target;
await step('deploy v2', async () => {
  v2Target = (await deploy(v2.image)).target;
  return `v2 started and healthy beside v1, no traffic yet`;
});
await step('canary flip to v2', async () => {
  await anew('flip', [
    ...where,
    '--target',
    v2Target,
    '--strategy',
    'canary',
    '--steps',
    '25,50,100',
    '--interval',
    '1s',
  ]);
  return `v2 at 25%, 50%, then 100%, each step watched for errors`;
});
await step('roll back to v1', async () => {
  const r = await anew('rollback', [...where]);
  return `v1 takes all traffic again (release ${r.release}); v2 stays warm`;
});
await load.stop();
load = undefined;
await step('status', async () => {
  const live = await liveDigest();
  if (live !== v1.digest) throw new Error(`the environment serves ${live}, not v1 ${v1.digest}`);
  return `live: v1 ${short(live)}`;
});

const body = await new Promise((resolve, reject) =>
  http
    .get(url, { agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        b += c;
      });
      res.on('end', () => resolve(b));
    })
    .on('error', reject),
);
if (!body.includes('<h1>Hello from anew</h1>')) throw new Error(`${url} does not serve v1`);

const rows = timeline.map((t) => [
  t.name,
  t.changed,
  `${(t.ms / 1000).toFixed(1)} s`,
  t.served === undefined ? '' : String(t.served),
  t.failed === undefined ? '' : String(t.failed),
]);
const head = ['step', 'what changed', 'took', 'served', 'failed'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
process.stdout.write(`\n${line(head)}\n${widths.map((w) => '─'.repeat(w)).join('  ')}\n`);
for (const r of rows) process.stdout.write(`${line(r)}\n`);
const total = timeline.reduce((s, t) => s + t.ms, 0);
process.stdout.write(
  `\n${(total / 1000).toFixed(1)} s in all; requests by a client that never retries, while v2 came and went: ${timeline.reduce(
    (s, t) => s + (t.served ?? 0),
    0,
  )} served, ${timeline.reduce((s, t) => s + (t.failed ?? 0), 0)} failed.\n`,
);
process.stdout.write(`\nLive at ${url}\n`);
