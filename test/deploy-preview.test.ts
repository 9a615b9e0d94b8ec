import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { containers, routeOf } from './fixtures/apps/world.ts';
import { runAction } from './helpers/action.ts';
import { freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * A pull-request preview driven by anew.yml alone: the `pr-*` template gives
 * the engine, router, listen address and a host name with {env}; the steps
 * pass only the image, the environment and the config path. Closing the
 * pull request retires the environment and its route.
 */
const app = 'e2e-preview';
let image: TestImage;
let caddy: RunningService & { admin: string };
let dir: string;

beforeAll(async () => {
  image = buildAppImage(`anew-test/${app}`, { version: 'v1' });
  caddy = await startCaddy();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-preview-'));
});

afterAll(async () => {
  removeApp(app, image ? [image] : []);
  await caddy?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A GET with a Host header (fetch may not set one). */
function get(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
      })
      .on('error', reject);
  });
}

it('deploys, serves and retires pr-* previews from the anew.yml template', async () => {
  const port = await freePort();
  const config = path.join(dir, 'anew.yml');
  fs.writeFileSync(
    config,
    [
      `app: ${app}`,
      'defaults:',
      `  docker-host: ${services.dockerHost}`,
      `  router-url: ${caddy.admin}`,
      '  health-path: /health',
      'environments:',
      '  pr-*:',
      `    listen: 127.0.0.1:${port}`,
      '    hosts: "{env}.preview.test"',
      '    keep: 0',
    ].join('\n'),
  );
  for (const pr of ['pr-7', 'pr-8']) {
    const d = await runAction('deploy', { image: image.image, environment: pr, config });
    expect(d.code, d.log).toBe(0);
    const f = await runAction('flip', { environment: pr, target: d.outputs['target']!, config });
    expect(f.code, f.log).toBe(0);
  }
  // One listen address, one route per preview, told apart by host name.
  for (const pr of ['pr-7', 'pr-8']) {
    expect(await get(port, `${pr}.preview.test`)).toBe('200 v1');
    expect(await routeOf(caddy.admin, app, pr)).toMatchObject({ match: [{ host: [`${pr}.preview.test`] }] });
  }
  // No route for another host: Caddy's empty default answer.
  expect(await get(port, 'pr-9.preview.test')).toBe('200 ');

  const c = await runAction('cleanup', { environment: 'pr-7', all: 'true', config });
  expect(c.code, c.log).toBe(0);
  expect(await routeOf(caddy.admin, app, 'pr-7')).toBeUndefined();
  expect(await routeOf(caddy.admin, app, 'pr-8')).toBeDefined();
  expect(
    containers(app)
      .map((x) => x.name)
      .every((n) => n.includes('-pr-8-')),
  ).toBe(true);

  // A typo in anew.yml stops the step before anything happens, naming the key.
  fs.writeFileSync(config, `app: ${app}\nenvironments:\n  pr-*:\n    lisen: ":80"\n`);
  const bad = await runAction('deploy', { image: image.image, environment: 'pr-10', config });
  expect(bad.code).not.toBe(0);
  expect(bad.log).toMatch(/environments\.pr-\*\.lisen is not a known key/);
  expect(containers(app).some((x) => x.name.includes('-pr-10-'))).toBe(false);
});
