import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NODE_LOCAL, NODE24, runAction } from './helpers/action.ts';
import { type KubeStandIn, startKubeApi } from './helpers/kube-api.ts';

/**
 * The committed bundles of deploy, flip, rollback and cleanup against the
 * stand-in API server, configured by anew.yml alone (the inputs for the
 * Kubernetes settings arrive with the new input model): the client library
 * is loaded from its lazy chunk, under Node 24 as GitHub runs it and under
 * this machine's Node.
 */
let api: KubeStandIn;
let dir: string;
let config: string;
const image = `registry.example/acme/web@sha256:${'ab'.repeat(32)}`;
const image2 = `registry.example/acme/web@sha256:${'cd'.repeat(32)}`;

beforeAll(async () => {
  api = await startKubeApi({ namespaces: ['default', 'apps'] });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-kube-bundles-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, api.kubeconfig(['standin', 'staging']));
  config = path.join(dir, 'anew.yml');
  fs.writeFileSync(
    config,
    [
      'app: web',
      'defaults:',
      '  driver: kubernetes',
      '  router: kubernetes-service',
      `  kubeconfig: ${kubeconfig}`,
      '  kube-context: staging',
      '  namespace: apps',
      '  health-timeout: 20s',
      'environments:',
      '  production: {}',
      '  elsewhere:',
      '    namespace: nowhere',
    ].join('\n'),
  );
});
afterAll(async () => {
  await api?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it('deploy, flip, deploy, flip, rollback through the committed bundles', async () => {
  const selector = () => api.get('v1/services', 'apps', 'web-production')?.spec.selector['dev.anew.release'];
  const d1 = await runAction('deploy', { image, environment: 'production', config }, { node: NODE24 });
  expect(d1.code, d1.log).toBe(0);
  expect(d1.outputs['target']).toMatch(/^anew-web-production-abababababab-/);
  expect(
    api.get('apps/v1/deployments', 'apps', d1.outputs['target']!)?.spec.template.spec.containers[0].image,
  ).toBe(image);
  const f1 = await runAction('flip', { environment: 'production', target: d1.outputs['target']!, config });
  expect(f1.code, f1.log).toBe(0);
  expect(selector()).toBe(d1.outputs['release']);

  const d2 = await runAction(
    'deploy',
    { image: image2, environment: 'production', config },
    { node: NODE_LOCAL },
  );
  expect(d2.code, d2.log).toBe(0);
  const f2 = await runAction('flip', { environment: 'production', target: d2.outputs['target']!, config });
  expect(f2.code, f2.log).toBe(0);
  expect(f2.outputs['previous-target']).toBe(d1.outputs['target']);
  expect(selector()).toBe(d2.outputs['release']);

  const r = await runAction('rollback', { environment: 'production', config });
  expect(r.code, r.log).toBe(0);
  expect(selector()).toBe(d1.outputs['release']);
  expect(api.rejected).toEqual([]);
  // The token is handed to the runner's masker, and appears nowhere else.
  const logs = [d1, f1, d2, f2, r].flatMap((x) => x.log.split('\n'));
  expect(logs.filter((l) => l.includes(api.token))).toEqual(
    logs.filter((l) => l === `::add-mask::${api.token}`),
  );
  expect(logs).toContain(`::add-mask::${api.token}`);
});

it('an unknown namespace stops deploy before anything is written', async () => {
  const writes = api.writes.length;
  const d = await runAction('deploy', { image, environment: 'elsewhere', config });
  expect(d.code).not.toBe(0);
  expect(d.log).toContain('namespace "nowhere" does not exist in the cluster');
  expect(api.writes.length).toBe(writes);
});
