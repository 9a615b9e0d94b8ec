import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../packages/cli/src/main.ts';
import { removeApp } from './fixtures/apps/images.ts';
import { containers, routeOf } from './fixtures/apps/world.ts';
import { newKeyPair, workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { NODE24, repoRoot, runAction } from './helpers/action.ts';
import { docker, freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * The root action: build → attest → deploy (with the provenance gate) →
 * flip in one step, the committed bundle run as the runner runs it, against
 * the real registry, engine and Caddy.
 */
const app = 'ship-e2e';
let ctx: string;
let caddy: RunningService & { admin: string };
let listen: string;
const keys = newKeyPair();
const repo = () => `${services.registry}/anew-ship/sample`;
let shipped: string | undefined;

beforeAll(async () => {
  ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-ship-'));
  fs.cpSync(path.join(repoRoot, 'test/fixtures/sample-app'), ctx, { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
  caddy = await startCaddy();
  listen = `127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  removeApp(app, shipped ? [{ image: shipped, digest: '', repository: repo() }] : []);
  await caddy?.stop();
  fs.rmSync(ctx, { recursive: true, force: true });
});

const tagsOf = async (repository: string) => {
  const r = await fetch(`http://${services.registry}/v2/${repository}/tags/list`);
  return r.status === 200 ? (((await r.json()) as { tags: string[] | null }).tags ?? []) : [];
};

const inputs = () => ({
  image: repo(),
  environment: 'production',
  app,
  context: ctx,
  files: 'busybox:/bin/busybox\nsite/:/www/',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell in the image expands it
  entrypoint: '["/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p \\"${PORT}\\" -h /www"]',
  'source-date-epoch': '1700000000',
  'signing-key': keys.privatePem,
  'public-key': keys.publicPem,
  'require-provenance': 'true',
  'source-repository': 'org/app',
  'docker-host': services.dockerHost,
  'router-url': caddy.admin,
  listen,
});

describe('ship', () => {
  it('refuses bad input before building anything', async () => {
    const tags = async () => {
      const r = await fetch(`http://${services.registry}/v2/anew-ship/sample/tags/list`);
      return r.status === 200 ? (((await r.json()) as { tags: string[] | null }).tags ?? []) : [];
    };
    const before = await tags();
    const run = await runAction(
      'ship',
      { ...inputs(), environment: 'Prod;rm', 'source-date-epoch': '1' },
      { env: workflowEnv() },
    );
    expect(run.code).not.toBe(0);
    expect(run.log).toMatch(/not a valid environment name/);
    // A build would have recorded its inputs under a new anew-inputs-… tag.
    expect(await tags()).toEqual(before);
    expect(containers(app)).toEqual([]);
  });

  it('a dry run changes nothing anywhere: the build is planned, nothing pushed, signed, started or routed', async () => {
    const fresh = `anew-ship/dry-${process.pid}`;
    const run = await runAction(
      'ship',
      { ...inputs(), image: `${services.registry}/${fresh}`, 'dry-run': 'true' },
      { env: workflowEnv() },
    );
    expect(run.code, run.log).toBe(0);
    expect(run.outputs['inputs-digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run.outputs['image']).toBeUndefined();
    expect(run.log).toMatch(/Plan: build and push an image for inputs-digest/);
    expect(run.log).not.toMatch(/Attest|Signed|Rekor/);
    expect(await tagsOf(fresh)).toEqual([]);
    expect(containers(app)).toEqual([]);
    expect(await routeOf(caddy.admin, app, 'production')).toBeUndefined();
  });

  it('builds, attests, deploys behind the provenance gate and flips: the site answers through the router', async () => {
    const run = await runAction('ship', inputs(), { env: workflowEnv(), node: NODE24 });
    expect(run.code, run.log).toBe(0);
    const o = run.outputs;
    shipped = o['image'];
    expect(o['image']).toBe(`${repo()}@${o['digest']}`);
    expect(o['attestation-digest']).toMatch(/^sha256:/);
    expect(run.log).toMatch(/Provenance|verified/i);
    expect(o['target']).toMatch(/^anew-ship-e2e-production-/);
    expect(o['release']).toBeTruthy();
    const page = await fetch(`http://${listen}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Hello from anew');
    expect(await routeOf(caddy.admin, app, 'production')).toBeDefined();
    expect(run.summary).toMatch(/anew\/ship/);
  });

  it('a second ship of the same inputs is a cache hit, deployed as a new target and flipped to', async () => {
    const first = containers(app).map((c) => c.name);
    const run = await runAction('ship', inputs(), { env: workflowEnv() });
    expect(run.code, run.log).toBe(0);
    expect(run.outputs['cache-hit']).toBe('true');
    expect(run.outputs['image']).toBe(shipped);
    expect(first).not.toContain(run.outputs['target']);
    expect(run.outputs['previous-target']).toBe(first[0]);
    expect((await fetch(`http://${listen}/`)).status).toBe(200);
  });

  it('a dry run once the image exists plans the deploy, and still changes nothing', async () => {
    const before = containers(app);
    const route = await routeOf(caddy.admin, app, 'production');
    const tags = await tagsOf('anew-ship/sample');
    const run = await runAction('ship', { ...inputs(), 'dry-run': 'true' }, { env: workflowEnv() });
    expect(run.code, run.log).toBe(0);
    expect(run.outputs['image']).toBe(shipped);
    expect(run.log).toMatch(/Plan \(dry run/);
    expect(containers(app)).toEqual(before);
    expect(await routeOf(caddy.admin, app, 'production')).toEqual(route);
    expect(await tagsOf('anew-ship/sample')).toEqual(tags);
  });

  it("anew.yml's settings take effect under ship: no action.yml default hides them", async () => {
    const config = path.join(ctx, 'anew.yml');
    fs.writeFileSync(config, 'defaults:\n  require-provenance: true\n');
    const { 'public-key': _k, 'require-provenance': _r, 'source-repository': _s, ...rest } = inputs();
    const before = containers(app);
    const run = await runAction('ship', { ...rest, attest: 'false', config }, { env: workflowEnv() });
    fs.rmSync(config);
    // require-provenance from anew.yml asks for a policy, and none is given: refused before anything runs.
    expect(run.code).not.toBe(0);
    expect(run.log).toMatch(/no signer is required/);
    expect(containers(app)).toEqual(before);
  });

  it('runs from the CLI in-process, build → deploy → flip, leaving process.env as it was', async () => {
    const env = { ...process.env };
    const { 'public-key': _k, 'require-provenance': _r, 'source-repository': _s, ...rest } = inputs();
    const args = Object.entries({ ...rest, attest: 'false' }).flatMap(([k, v]) => [`--${k}`, v]);
    const code = await cli(['ship', ...args]);
    expect(code).toBe(0);
    expect({ ...process.env }).toEqual(env);
    expect((await fetch(`http://${listen}/`)).status).toBe(200);
  });

  it('cleanup retires the environment: its targets, its route, and the images they ran', async () => {
    const targets = containers(app).length;
    const run = await runAction('cleanup', {
      environment: 'production',
      app,
      all: 'true',
      'docker-host': services.dockerHost,
      'router-url': caddy.admin,
    });
    expect(run.code, run.log).toBe(0);
    expect(run.outputs['removed']!.split('\n')).toHaveLength(targets);
    expect(containers(app)).toEqual([]);
    expect(await routeOf(caddy.admin, app, 'production')).toBeUndefined();
    expect(() => docker(['image', 'inspect', shipped!])).toThrow();
  });
});
