// A 100 MB image copied from one registry to another: the registry client's
// copyBlob (what promote will stream through) beside `skopeo copy`.
//
// Each run copies into a fresh empty registry (distribution 2.8 on loopback),
// so nothing is mounted or skipped: every byte goes through the client. Wall
// time and peak RSS of each side come from /usr/bin/time. The client runs in a
// process of its own: the registry module bundled with esbuild (as the action
// bundles are), reading the manifest, copying the config and the layers in
// parallel, and putting the manifest under the same tag.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  bundleRegistryModule,
  machine,
  measure,
  median,
  pushRandomImage,
  startRegistry,
  table,
  version,
} from './lib.mjs';

const RUNS = Number(process.env.ANEW_BENCH_RUNS ?? 3);
const LAYERS = 4;
const LAYER_BYTES = 25 * 1024 * 1024;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-copy-'));
const cleanups = [() => fs.rmSync(tmp, { recursive: true, force: true })];

async function main() {
  const lib = await bundleRegistryModule(tmp);
  const child = path.join(tmp, 'copy.mjs');
  fs.writeFileSync(
    child,
    `const { RegistryClient, parseReference } = await import(${JSON.stringify(lib)});
const [from, to] = process.argv.slice(2).map((r) => parseReference(r));
const client = new RegistryClient();
const m = await client.getManifest(from);
const results = await Promise.all(
  [m.json.config, ...m.json.layers].map((d) => client.copyBlob(from.repo, to.repo, d)),
);
if (results.some((r) => r !== 'copied')) throw new Error('not every blob was copied: ' + results);
await client.putManifest(to.repo, m.bytes, m.mediaType, to.tag);
`,
  );

  const registry = await import(lib);
  const source = await startRegistry();
  cleanups.push(() => source.stop());
  const repo = registry.parseReference(`${source.host}/bench/copy`);
  // Layers as opaque blobs, which both sides copy as they are.
  const { configSize } = await pushRandomImage(registry, repo, LAYERS, LAYER_BYTES, 'v1');
  const src = `${source.host}/bench/copy:v1`;
  const total = LAYERS * LAYER_BYTES + configSize;

  const anew = [];
  const skopeo = [];
  for (let i = 0; i < RUNS; i++) {
    const a = await startRegistry();
    anew.push(measure(process.execPath, [child, src, `${a.host}/bench/copy:v1`]));
    await a.stop();
    const s = await startRegistry();
    const home = fs.mkdtempSync(path.join(tmp, 'skopeo-home-'));
    skopeo.push(
      measure(
        'skopeo',
        [
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          `docker://${src}`,
          `docker://${s.host}/bench/copy:v1`,
        ],
        // A fresh blob-info cache, so skopeo mounts nothing it saw in an earlier run.
        { HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home },
      ),
    );
    await s.stop();
  }

  const mb = (n) => `${(n / 1024 / 1024).toFixed(0)} MB`;
  const ms = (xs) => `${Math.round(median(xs.map((x) => x.ms)))} ms`;
  const peak = (xs) => mb(Math.max(...xs.map((x) => x.rss)));
  console.log(`Machine: ${machine()}; ${version('skopeo', ['--version'])}`);
  console.log(
    `Image: ${LAYERS} layers of ${mb(LAYER_BYTES)} (${mb(total)} in all), copied registry → registry on loopback, median of ${RUNS} runs\n`,
  );
  table([
    ['copier', 'wall time', 'peak RSS'],
    ['anew RegistryClient.copyBlob', ms(anew), peak(anew)],
    ['skopeo copy', ms(skopeo), peak(skopeo)],
  ]);
  const ratio = median(anew.map((x) => x.ms)) / median(skopeo.map((x) => x.ms));
  console.log(`\nanew / skopeo wall time: ${ratio.toFixed(2)}×`);
}

try {
  await main();
} finally {
  for (const c of cleanups.reverse()) await c();
}
