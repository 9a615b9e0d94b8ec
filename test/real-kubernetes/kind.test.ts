import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type Settings } from '../../packages/core/src/config/index.ts';
import { ConsoleLogger } from '../../packages/core/src/log/index.ts';
import { parsePinnedReference } from '../../packages/core/src/ref/index.ts';
import { deploy, flip, infraFor, rollback, status } from '../../packages/core/src/release/index.ts';
import { RouteConflictError } from '../../packages/core/src/routers/index.ts';
import { KubeServiceRouter } from '../../packages/core/src/routers/kubernetes/index.ts';
import { KubeApi, KubeEngine } from '../../packages/core/src/targets/kubernetes/index.ts';

/**
 * The same flow as test/kubernetes.test.ts, on a real cluster (kind on a
 * GitHub runner, .github/workflows/e2e-kubernetes.yml): real rollouts,
 * readiness probes, a Gateway API implementation. The workflow names the
 * cluster and two images (busybox httpd serving "v1" and "v2") by digest.
 */
const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through .github/workflows/e2e-kubernetes.yml`);
  return v;
};
const kubeconfig = env('ANEW_KUBECONFIG');
const namespace = env('ANEW_KUBE_NAMESPACE');
const images = [env('ANEW_KUBE_IMAGE_V1'), env('ANEW_KUBE_IMAGE_V2')].map((i) => parsePinnedReference(i));
const gateway = env('ANEW_KUBE_GATEWAY');
const gatewayUrl = process.env['ANEW_KUBE_GATEWAY_URL'];
const run = { sha: 'e2e', repository: 'acme/web', runId: '1', serverUrl: 'https://github.com' };

const base: Settings = {
  ...DEFAULT_SETTINGS,
  driver: 'kubernetes',
  router: 'kubernetes-service',
  kubeconfig,
  namespace,
  port: 8080,
  'health-timeout': 120_000,
  replicas: 2,
};
const lines: string[] = [];
const log = new ConsoleLogger((l) => {
  lines.push(l);
  process.stderr.write(`${l}\n`);
});
const api = new KubeApi({ kubeconfig, namespace });
const ship = (settings: Settings, i: number, environment: string) =>
  deploy(infraFor(settings, log), {
    image: images[i]!,
    app: 'web',
    environment,
    settings,
    run: run as never,
    dryRun: false,
  });
/** What the Service answers, through the API server's proxy (no port-forward needed). */
const serve = async (name: string) =>
  JSON.stringify(await api.request('GET', `/api/v1/namespaces/${namespace}/services/${name}:80/proxy/`));

/** Up to 60 tries a second apart: what a controller does after an API write. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    if (await check()) return true;
    await new Promise((ok) => setTimeout(ok, 1000));
  }
  return false;
}

describe('on a real cluster (kind)', () => {
  it('deploy, flip, deploy, flip, rollback through a Service; an unready rollout never takes traffic', async () => {
    const infra = infraFor(base, log);
    const flipTo = (to: string) =>
      flip(infra, { app: 'web', environment: 'production', to, settings: base, dryRun: false });
    const v1 = await ship(base, 0, 'production');
    await flipTo(v1.target);
    const v2 = await ship(base, 1, 'production');
    await flipTo(v2.target);
    const svc = await api.get(`/api/v1/namespaces/${namespace}/services/web-production`);
    expect(svc!['spec']['selector']['dev.anew.release']).toBe(v2.release);
    await rollback(infra, { app: 'web', environment: 'production', settings: base, dryRun: false });
    const back = await api.get(`/api/v1/namespaces/${namespace}/services/web-production`);
    expect(back!['spec']['selector']['dev.anew.release']).toBe(v1.release);

    // A readiness probe that never passes: the rollout fails, the new Deployment is deleted, the Service is as it was.
    const err = await ship(
      { ...base, 'health-path': '/missing', 'health-timeout': 45_000 },
      1,
      'production',
    ).catch((e: Error) => e);
    expect(String(err)).toMatch(/did not become ready/);
    const after = await api.get(`/api/v1/namespaces/${namespace}/services/web-production`);
    expect(after!['metadata']['resourceVersion']).toBe(back!['metadata']['resourceVersion']);
    const targets = await new KubeEngine({ kubeconfig, namespace }).list({
      app: 'web',
      environment: 'production',
    });
    expect(targets.map((t) => t.name).sort()).toEqual([v1.target, v2.target].sort());
    const [st] = await status(infra, { app: 'web', environment: 'production' });
    expect(st!.live).toBe(v1.release);
    expect(st!.drift).toEqual([]);
    // Endpoints follow the selector a moment later.
    expect(await eventually(async () => (await serve('web-production').catch(() => '')).includes('v1'))).toBe(
      true,
    );
  });

  it('a stale write to the Service is refused by resourceVersion', async () => {
    const router = new KubeServiceRouter(api, namespace);
    const state = await router.read('web', 'production');
    expect(state).toBeDefined();
    await router.write({ ...state!, history: state!.history }, state);
    await expect(router.write(state!, state)).rejects.toBeInstanceOf(RouteConflictError);
  });

  it('gateway-api: canary weights on an HTTPRoute the Gateway accepts', async () => {
    const settings: Settings = {
      ...base,
      router: 'gateway-api',
      gateway,
      hosts: ['web.example.com'],
      interval: 5000,
    };
    const infra = infraFor(settings, log);
    const v1 = await ship(settings, 0, 'canary');
    await flip(infra, { app: 'web', environment: 'canary', to: v1.target, settings, dryRun: false });
    const v2 = await ship(settings, 1, 'canary');
    await flip(infra, {
      app: 'web',
      environment: 'canary',
      to: v2.target,
      settings: { ...settings, strategy: 'canary', steps: [50, 100] },
      dryRun: false,
    });
    const route = await api.get(
      `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes/web-canary`,
    );
    expect(route!['spec']['rules'][0]['backendRefs']).toEqual([
      expect.objectContaining({ name: v2.target, weight: 100 }),
    ]);
    // The Gateway's controller accepts the route, and Envoy serves it, a little later: bounded waits.
    const accepted = await eventually(async () => {
      const r = await api.get(
        `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes/web-canary`,
      );
      const conditions = (r?.['status']?.['parents'] ?? []).flatMap(
        (p: { conditions: object[] }) => p.conditions,
      );
      return conditions.some(
        (c: { type?: string; status?: string }) => c.type === 'Accepted' && c.status === 'True',
      );
    });
    expect(accepted).toBe(true);
    if (gatewayUrl) {
      const served = await eventually(async () => {
        const res = await fetch(gatewayUrl, { headers: { host: 'web.example.com' } }).catch(() => undefined);
        return (await res?.text())?.includes('v2') ?? false;
      });
      expect(served).toBe(true);
    }
  });

  it('bad input: a tag, an unknown namespace, a missing context; nothing written', async () => {
    const before = (await api.list(`/apis/apps/v1/namespaces/${namespace}/deployments`, {})).length;
    expect(() => parsePinnedReference('localhost:5001/web:latest')).toThrow(/digest/);
    const engine = new KubeEngine({ kubeconfig, namespace });
    await expect(engine.pull('localhost:5001/web:latest')).rejects.toThrow(/not pinned by digest/);
    await expect(ship({ ...base, namespace: 'anew-no-such-namespace' }, 0, 'production')).rejects.toThrow(
      /does not exist/,
    );
    await expect(ship({ ...base, 'kube-context': 'no-such-context' }, 0, 'production')).rejects.toThrow(
      /kube-context "no-such-context" is not in/,
    );
    expect((await api.list(`/apis/apps/v1/namespaces/${namespace}/deployments`, {})).length).toBe(before);
  });
});
