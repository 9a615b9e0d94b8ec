// anew's daemonless build + push against `buildah bud` + push and
// `docker build` + push of the same content, for the sample site and a
// generated 100 MiB tree of a few thousand files; a cache hit against a cold
// build, where a hit's time goes, and what a cache policy adds to it; the
// peak memory of building a 1 GiB tree; the start-up time of every action
// bundle and the size of dist/.
// Not a test: it prints figures (bench/README.md records them).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newKeyPair, workflowEnv } from './keys.mjs';
import {
  MAXRSS_ENV,
  machine,
  median,
  RUNNER_NODE,
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
function generatedTree(mib = 100, count = 3000) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-tree-'));
  const total = mib * 2 ** 20;
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
    name: `${mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`} tree, ${count} files`,
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

// One key and one workflow for every run: the hits with a cache policy need the cold image attested.
const key = newKeyPair();
const jobEnv = { ...workflowEnv(), RUNNER_DEBUG: '1', ...MAXRSS_ENV };

/**
 * A build on the runner's Node. With `checksums` (a folder) it runs as on a
 * self-hosted runner, keeping the checksum cache there: the second build in
 * one folder is the same machine again. Without, as on a GitHub-hosted
 * runner, a fresh machine every job, which keeps none.
 */
function anew(content, host, repo, checksums, extra = {}) {
  const r = runBundle(
    'build',
    {
      image: `${host}/${repo}`,
      context: content.dir,
      'source-date-epoch': EPOCH,
      base: 'scratch',
      cache: 'true',
      ...content.inputs,
      ...extra,
    },
    // A fresh machine is what a GitHub-hosted runner is; the same machine again, a self-hosted one.
    { ...jobEnv, ...(checksums ? { ANEW_CACHE_DIR: checksums, RUNNER_ENVIRONMENT: 'self-hosted' } : {}) },
    RUNNER_NODE,
  );
  if (r.code !== 0) throw new Error(`anew build failed:\n${r.log}`);
  const t = /build timings: start-up (\d+) ms, inputs read and hashed (\d+) ms, cache lookup (\d+) ms/.exec(
    r.log,
  );
  const a = /build timings: layer written and pushed (\d+) ms/.exec(r.log);
  r.timings = t && {
    startup: Number(t[1]),
    hashing: Number(t[2]),
    lookup: Number(t[3]),
    assembly: a ? Number(a[1]) : 0,
  };
  return r;
}

/** Attests as a later job would: the inputs-digest given, since this job's build record is not there. */
function attest(image, inputsDigest) {
  const r = runBundle(
    'attest',
    { image, 'signing-key': key.privatePem, 'inputs-digest': inputsDigest },
    jobEnv,
    RUNNER_NODE,
  );
  if (r.code !== 0) throw new Error(`anew attest failed:\n${r.log}`);
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

console.log(
  `machine: ${machine()}; anew runs on ${RUNNER_NODE === process.execPath ? 'this Node' : `Node ${version(RUNNER_NODE, ['--version'])} (GitHub's node24)`}`,
);
console.log(
  `buildah: ${version('buildah', ['--version'])}; docker: ${version('docker', ['--host', services.ANEW_DOCKER_HOST, 'version', '--format', 'engine {{.Server.Version}}'])}; runs: median of ${RUNS}`,
);

const rows = [
  [
    'content',
    'anew cold',
    'anew cache hit',
    'hit, fresh machine',
    'hit with policy',
    'buildah bud+push',
    'docker build+push',
    'anew/buildah',
    'anew/docker',
    'hit/cold',
    'peak RSS (cold)',
  ],
];
const coldBreakdown = [
  [
    'cold build of',
    'wall',
    'process start-up',
    'reading + hashing',
    'registry lookup',
    'layer + push',
    'rest',
  ],
];
const breakdown = [
  [
    'cache hit of',
    'wall',
    'process start-up',
    'reading + hashing',
    'registry lookup',
    'rest (tags, outputs, exit)',
  ],
];
const withPolicy = [
  [
    'cache hit of (fresh machine)',
    'no policy',
    'cache-public-key',
    'policy adds',
    'of which lookup + verify',
  ],
];
for (const make of [sampleSite, generatedTree]) {
  const content = make();
  try {
    if (content.dockerfile) fs.writeFileSync(path.join(content.dir, 'Dockerfile'), content.dockerfile);
    const cold = [];
    const hit = [];
    const freshHit = [];
    const policyHit = [];
    const rss = [];
    const bah = [];
    const dkr = [];
    const parts = [];
    const freshParts = [];
    const coldParts = [];
    const policyLookup = [];
    let digest;
    for (let i = 0; i < RUNS; i++) {
      await withRegistry(async (host) => {
        const machineCache = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-checksums-'));
        const c = anew(content, host, `anew/${i}`, machineCache);
        const h = anew(content, host, `anew/${i}`, machineCache);
        const f = anew(content, host, `anew/${i}`);
        fs.rmSync(machineCache, { recursive: true, force: true });
        if (h.outputs['cache-hit'] !== 'true' || f.outputs['cache-hit'] !== 'true')
          throw new Error('the second anew build was not a cache hit');
        if (digest && c.outputs.digest !== digest)
          throw new Error('anew gave two digests for the same content');
        digest = c.outputs.digest;
        cold.push(c.ms);
        hit.push(h.ms);
        freshHit.push(f.ms);
        rss.push(c.maxRssMiB);
        if (h.timings) parts.push({ wall: h.ms, ...h.timings });
        if (f.timings) freshParts.push({ wall: f.ms, ...f.timings });
        if (c.timings) coldParts.push({ wall: c.ms, ...c.timings });
        attest(c.outputs.image, c.outputs['inputs-digest']);
        const p = anew(content, host, `anew/${i}`, undefined, { 'cache-public-key': key.publicPem });
        if (p.outputs['cache-hit'] !== 'true') throw new Error(`the hit with a policy missed:\n${p.log}`);
        policyHit.push(p.ms);
        if (p.timings) policyLookup.push(p.timings.lookup);
      });
      await peer('buildah', bah, (host) => buildah(content, host));
      await peer('docker', dkr, (host) => dockerEngine(content, host));
    }
    const [c, h, fh, ph, b, d] = [cold, hit, freshHit, policyHit, bah, dkr].map((xs) =>
      xs.length ? median(xs) : Number.NaN,
    );
    rows.push([
      content.name,
      ms(c),
      ms(h),
      ms(fh),
      ms(ph),
      ms(b),
      ms(d),
      ratio(c / b),
      ratio(c / d),
      `${ratio(h / c)} (fresh: ${ratio(fh / c)})`,
      `${Math.round(Math.max(...rss))} MiB`,
    ]);
    if (coldParts.length) {
      const m = (k) => median(coldParts.map((x) => x[k]));
      const rest = m('wall') - m('startup') - m('hashing') - m('lookup') - m('assembly');
      coldBreakdown.push([
        content.name,
        ms(m('wall')),
        ms(m('startup')),
        ms(m('hashing')),
        ms(m('lookup')),
        ms(m('assembly')),
        ms(rest),
      ]);
    }
    for (const [how, xs] of [
      ['same machine', parts],
      ['fresh machine', freshParts],
    ]) {
      if (!xs.length) continue;
      const m = (k) => median(xs.map((x) => x[k]));
      const rest = m('wall') - m('startup') - m('hashing') - m('lookup');
      breakdown.push([
        `${content.name}, ${how}`,
        ms(m('wall')),
        ms(m('startup')),
        ms(m('hashing')),
        ms(m('lookup')),
        ms(rest),
      ]);
    }
    withPolicy.push([
      content.name,
      ms(fh),
      ms(ph),
      `${ms(ph - fh)} ms`,
      policyLookup.length ? `${ms(median(policyLookup))} ms` : '—',
    ]);
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
console.log("\nwhere a cold build spends its time (ms, medians; from the build's debug timings):");
table(coldBreakdown);
console.log("\nwhere a cache hit spends its time (ms, medians; from the build's debug timings):");
table(breakdown);
console.log('\na cache hit with a cache policy (the image attested with a key; ms, medians):');
table(withPolicy);

// Peak memory of a cold build and push of a large tree (ANEW_BENCH_LARGE_MIB, default 1024; 0 skips).
const LARGE = Number(process.env.ANEW_BENCH_LARGE_MIB ?? 1024);
if (LARGE > 0) {
  const content = generatedTree(LARGE, 2000);
  try {
    const r = await withRegistry(async (host) => anew(content, host, 'anew/large'));
    console.log(
      `\n${content.name}: cold build and push ${ms(r.ms)} ms, peak RSS ${Math.round(r.maxRssMiB)} MiB`,
    );
  } finally {
    fs.rmSync(content.dir, { recursive: true, force: true });
  }
}

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
const runtimes = [
  ['Node 20 (this machine)', process.execPath],
  ...(RUNNER_NODE !== process.execPath ? [['Node 24', RUNNER_NODE]] : []),
];
// Round-robin: each round starts every bundle once, so a burst of load from other work on a shared
// machine lands on all of them alike rather than on whichever bundle was being measured.
const ROUNDS = 9;
const subjects = [
  ['node -e "" (for reference)', ['-e', '']],
  ...names.map((name) => [name, [path.join(root, 'dist', name, 'index.cjs')]]),
];
const samples = new Map(subjects.map(([label]) => [label, runtimes.map(() => [])]));
for (let round = 0; round < ROUNDS; round++)
  for (const [label, args] of subjects)
    for (const [r, [, node]] of runtimes.entries()) {
      const start = process.hrtime.bigint();
      spawnSync(node, args, { env: { ...empty, GITHUB_OUTPUT: '/dev/null' }, stdio: 'ignore' });
      samples.get(label)[r].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
const startRows = [['bundle', ...runtimes.map(([label]) => `${label}, ms (median of ${ROUNDS})`)]];
for (const [label] of subjects) startRows.push([label, ...samples.get(label).map((xs) => ms(median(xs)))]);
console.log('\nstart-up of the action bundles (no inputs: each fails at once on its first required input):');
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
