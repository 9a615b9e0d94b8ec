import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { answer, cli } from './fixtures/apps/world.ts';
import { repoRoot } from './helpers/action.ts';
import { freePort, service, services } from './helpers/services.ts';

/**
 * The README's main job (npm run demo runs scripts/demo.mjs once the services are up): replace, switch
 * and switch back, twice in a row, as a newcomer would run it. Its own environment and port, so it does not
 * touch a user's demo on the same engine.
 */
const environment = `demo-${process.pid}`;
let port: number;

function demo() {
  return spawnSync(process.execPath, [path.join(repoRoot, 'scripts/demo.mjs')], {
    encoding: 'utf8',
    env: {
      ...process.env,
      ANEW_REGISTRY: services.registry,
      ANEW_DOCKER_HOST: services.dockerHost,
      ANEW_HAPROXY_MASTER: services.haproxyMaster,
      ANEW_HAPROXY_CONFIG: service('ANEW_HAPROXY_CONFIG'),
      ANEW_DEMO_PORT: String(port),
      ANEW_DEMO_ENVIRONMENT: environment,
    },
    timeout: 170_000,
  });
}

afterAll(() => {
  // What the demo leaves live: its targets and its route.
  cli([
    'cleanup',
    '--app',
    'sample-app',
    '--environment',
    environment,
    '--all',
    '--router-url',
    services.caddyAdmin,
  ]);
});

describe('npm run demo', () => {
  it('builds, deploys, canaries, rolls back and reports, twice in a row, ending on v1', async () => {
    port = await freePort();
    const first = demo();
    expect(first.status, `${first.stdout}\n${first.stderr}`).toBe(0);
    const row = (out: string, step: string) => out.split('\n').find((l) => l.startsWith(step)) ?? '';
    expect(row(first.stdout, 'canary flip to v2')).toMatch(/25%, 50%, then 100%.*\d+ s\s+\d+\s+\d+$/);
    expect(row(first.stdout, 'roll back to v1')).toMatch(/v1 takes all traffic again/);
    expect(row(first.stdout, 'deploy and flip v1')).toMatch(/v1 takes all traffic/);
    expect(first.stdout).toContain(`Live at http://127.0.0.1:${port}/`);

    const second = demo();
    expect(second.status, `${second.stdout}\n${second.stderr}`).toBe(0);
    // Unchanged v1 is reused, and not deployed again while it is live.
    expect(row(second.stdout, 'build and attest v1')).toMatch(/cache hit/);
    expect(row(second.stdout, 'deploy and flip v1')).toMatch(/is live already: not redeployed/);
    expect(row(second.stdout, 'roll back to v1')).toMatch(/v1 takes all traffic again/);

    expect(await answer(`http://127.0.0.1:${port}/`)).toMatch(/^200 [\s\S]*<h1>Hello from anew<\/h1>/);
  });
});
