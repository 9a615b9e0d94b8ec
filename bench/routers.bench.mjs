// Flip and rollback on HAProxy (runtime API) and on Caddy (admin API, a
// reload per change), side by side, under keep-alive load:
//   - time from the call to the first answer from the new release (a probe
//     on a fresh connection every 2 ms);
//   - failed requests of a client that never retries (GETs and POSTs), of a
//     client that retries a GET once on a connection closed before any answer
//     (RFC 9112 §9.3.1, as browsers, curl and Go do), and of another
//     environment's clients (never retrying) on the same listen address.
// The router is driven by the core's own flip and rollback (bundled here
// from the sources, since no action takes `router: haproxy` yet), over
// busybox httpd processes as targets. Loopback only, bounded load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { startLoad } from '../test/fixtures/apps/load.mjs';
import { machine, median, root, table, version } from './lib.mjs';

const RUNS = Number(process.env.ANEW_BENCH_RUNS ?? 3);

/** The core's router and release functions and the test fixtures, bundled for plain node. */
async function loadCore() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-bench-core-'));
  const entry = path.join(dir, 'entry.ts');
  const src = (p) => JSON.stringify(path.join(root, p));
  fs.writeFileSync(
    entry,
    [
      `export { routerFor } from ${src('packages/core/src/routers/factory.ts')};`,
      `export { flip } from ${src('packages/core/src/release/flip.ts')};`,
      `export { rollback } from ${src('packages/core/src/release/rollback.ts')};`,
      `export { DEFAULT_SETTINGS } from ${src('packages/core/src/config/index.ts')};`,
      `export { ConsoleLogger } from ${src('packages/core/src/log/index.ts')};`,
      `export { BusyboxEngine } from ${src('test/fixtures/apps/busybox.ts')};`,
      `export { startHaproxy, startCaddy, freePort } from ${src('test/helpers/services.ts')};`,
    ].join('\n'),
  );
  const out = path.join(dir, 'core.mjs');
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: out,
    logLevel: 'error',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  const core = await import(pathToFileURL(out).href);
  fs.rmSync(dir, { recursive: true, force: true });
  return core;
}

const core = await loadCore();

async function firstAnswer(url, want, t0) {
  while (performance.now() - t0 < 30_000) {
    try {
      const body = (await (await fetch(url, { headers: { connection: 'close' } })).text()).trim();
      if (body === want) return performance.now() - t0;
    } catch {}
    await new Promise((r) => setTimeout(r, 2));
  }
  return Number.NaN;
}

/** One router: RUNS × (flip v1→v2, rollback v2→v1) under three loads. */
async function benchRouter(kind) {
  const quiet = new core.ConsoleLogger(
    process.env.ANEW_BENCH_LOG
      ? (l) => console.error(`${performance.now().toFixed(0)} ${l}`)
      : () => undefined,
  );
  const service = kind === 'haproxy' ? await core.startHaproxy() : await core.startCaddy();
  const router = core.routerFor(
    kind === 'haproxy'
      ? { kind, url: service.master, config: service.configDir }
      : { kind, url: service.admin },
    quiet,
  );
  const engine = new core.BusyboxEngine();
  const listen = `127.0.0.1:${await core.freePort()}`;
  const settings = { ...core.DEFAULT_SETTINGS, listen };
  const infra = { engines: [engine], router, log: quiet };
  const rows = [];
  try {
    await engine.add('bench', 'production', 'v1');
    await engine.add('bench', 'production', 'v2');
    await engine.add('bench', 'other', 'o1');
    const run = (environment, to, extra = {}) =>
      core.flip(infra, { app: 'bench', environment, to, settings: { ...settings, ...extra }, dryRun: false });
    await run('production', 'v1');
    await run('other', 'o1', { hosts: ['other.example.com'] });
    const url = `http://${listen}/`;
    for (let i = 0; i < RUNS; i++) {
      for (const [what, want, change] of [
        ['flip', 'v2', () => run('production', 'v2')],
        [
          'rollback',
          'v1',
          () => core.rollback(infra, { app: 'bench', environment: 'production', settings, dryRun: false }),
        ],
      ]) {
        const base = { maxMs: 60_000, postPath: '/cgi-bin/post' };
        const never = startLoad(url, { ...base, workers: 2, retry: false, postEvery: 4 });
        const retrying = startLoad(url, { ...base, workers: 2, retry: true });
        const other = startLoad(url, {
          ...base,
          workers: 2,
          retry: false,
          postEvery: 4,
          host: 'other.example.com',
        });
        await Promise.all([never.reach(300), retrying.reach(300), other.reach(300)]);
        const t0 = performance.now();
        const done = change();
        const first = await firstAnswer(url, want, t0);
        await done;
        const total = performance.now() - t0;
        await Promise.all([never.reach(never.count() + 300), retrying.reach(retrying.count() + 300)]);
        const [n, r, o] = [await never.stop(), await retrying.stop(), await other.stop()];
        rows.push({
          what,
          first,
          total,
          requests: n.requests + r.requests + o.requests,
          neverFailed: n.failed,
          retryFailed: r.failed,
          retried: r.retriedOnClosedConnection,
          otherFailed: o.failed,
          errors: [...n.errors, ...r.errors, ...o.errors].slice(0, 3),
        });
      }
    }
  } finally {
    await router.close();
    await engine.stopAll();
    await service.stop();
  }
  return rows;
}

console.log(
  `Machine: ${machine()}; ${version('haproxy', ['-v'])}; ${version('caddy', ['version'])}; runs: ${RUNS} of each`,
);
const results = { haproxy: await benchRouter('haproxy'), caddy: await benchRouter('caddy') };
const head = [
  'router',
  'change',
  'first answer from the new release (ms, median)',
  'call returns (ms, median)',
  'requests',
  'failed, client never retries (GET+POST)',
  'failed, client retries once',
  'failed, another environment',
];
const body = [];
for (const [kind, rows] of Object.entries(results)) {
  for (const what of ['flip', 'rollback']) {
    const rs = rows.filter((r) => r.what === what);
    const sum = (k) => rs.reduce((n, r) => n + r[k], 0);
    body.push([
      kind,
      what,
      median(rs.map((r) => r.first)).toFixed(0),
      median(rs.map((r) => r.total)).toFixed(0),
      sum('requests'),
      sum('neverFailed'),
      `${sum('retryFailed')} (${sum('retried')} retried)`,
      sum('otherFailed'),
    ]);
  }
}
table([head, ...body]);
for (const [kind, rows] of Object.entries(results)) {
  const errors = rows.flatMap((r) => r.errors);
  if (errors.length) console.log(`${kind}, first errors: ${[...new Set(errors)].slice(0, 3).join('; ')}`);
}
