import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type Settings } from '../packages/core/src/config/index.ts';
import { ConsoleLogger } from '../packages/core/src/log/index.ts';
import { parsePinnedReference } from '../packages/core/src/ref/index.ts';
import {
  deploy,
  flip,
  type Infra,
  infraFor,
  prune,
  retireEnvironment,
  rollback,
  status,
} from '../packages/core/src/release/index.ts';
import { RouteConflictError } from '../packages/core/src/routers/index.ts';
import { KubeServiceRouter } from '../packages/core/src/routers/kubernetes/index.ts';
import { KubeApi, KubeApiError, KubeEngine } from '../packages/core/src/targets/kubernetes/index.ts';
import { type KubeStandIn, startKubeApi } from './helpers/kube-api.ts';

/**
 * The Kubernetes driver and routers through the release functions, against
 * the stand-in API server (test/helpers/kube-api.ts), which validates every
 * object against the official schemas and moves rollouts as each test says.
 */

const digest = (c: string) => `sha256:${c.repeat(64)}` as const;
const image = (c: string) => parsePinnedReference(`registry.example/acme/web@${digest(c)}`);
const run = { sha: 'c0ffee', repository: 'acme/web', runId: '42', serverUrl: 'https://github.com' };

describe('kubernetes driver against the stand-in API server', () => {
  let api: KubeStandIn;
  let lines: string[];
  let settings: Settings;
  const infraOf = (extra: Partial<Settings> = {}): Infra =>
    infraFor({ ...settings, ...extra }, new ConsoleLogger((l) => lines.push(l)));
  const engineOf = (infra: Infra) => infra.engines[0] as KubeEngine;
  const speedUp = (infra: Infra) => {
    (engineOf(infra) as unknown as { pollMs: number }).pollMs = 5;
    return infra;
  };
  const ship = (infra: Infra, c: string, extra: Partial<Settings> = {}) =>
    deploy(speedUp(infra), {
      image: image(c),
      app: 'web',
      environment: 'production',
      settings: { ...settings, ...extra },
      run: run as never,
      dryRun: false,
    });
  const moveTo = (infra: Infra, to: string, extra: Partial<Settings> = {}) =>
    flip(infra, {
      app: 'web',
      environment: 'production',
      to,
      settings: { ...settings, ...extra },
      dryRun: false,
    });
  const service = () => api.get('v1/services', 'apps', 'web-production');

  // A fresh API server per test: each starts from an empty cluster.
  beforeEach(async () => {
    api = await startKubeApi({ namespaces: ['default', 'apps'] });
    lines = [];
    api.behaviour = () => 'ready';
    settings = {
      ...DEFAULT_SETTINGS,
      driver: 'kubernetes',
      router: 'kubernetes-service',
      kubeconfig: api.kubeconfig(['standin', 'staging']),
      'kube-context': 'staging',
      namespace: 'apps',
      'health-timeout': 2000,
      keep: 2,
      env: { DATABASE_URL: 'postgres://user:hunter2@db/web' },
    };
  });
  afterEach(async () => {
    // No object the driver sent ever failed the official schemas.
    expect(api.rejected).toEqual([]);
    await api.close();
  });

  it('deploy, flip, deploy, flip, rollback: Deployments by digest, the Service selector moves, history in its annotation', async () => {
    const infra = infraOf();
    const v1 = await ship(infra, 'a');
    const dep1 = api.get('apps/v1/deployments', 'apps', v1.target)!;
    expect(v1.target).toMatch(/^anew-web-production-aaaaaaaaaaaa-[0-9a-f]{6}$/);
    expect(dep1.spec.template.spec.containers[0].image).toBe(`registry.example/acme/web@${digest('a')}`);
    expect(dep1.metadata.labels).toMatchObject({
      'dev.anew.app': 'web',
      'dev.anew.environment': 'production',
      'dev.anew.release': v1.release,
      'dev.anew.digest': 'aaaaaaaaaaaa',
    });
    expect(dep1.metadata.annotations).toMatchObject({
      'dev.anew.digest': digest('a'),
      'dev.anew.commit': 'c0ffee',
      'dev.anew.release': v1.release,
    });
    expect(dep1.metadata.annotations['dev.anew.run-url']).toContain('/actions/runs/42');
    expect(dep1.spec.template.spec.containers[0].readinessProbe.httpGet).toEqual({ path: '/', port: 'http' });
    expect(
      dep1.metadata.managedFields.map(
        (m: { manager: string; operation: string }) => `${m.manager}:${m.operation}`,
      ),
    ).toEqual(['anew:Apply']);
    // The env is a Secret the pods read; its values are in neither the Deployment nor the log.
    expect(JSON.stringify(dep1)).not.toContain('hunter2');
    expect(dep1.spec.template.spec.containers[0].envFrom).toEqual([{ secretRef: { name: v1.target } }]);
    expect(api.get('v1/secrets', 'apps', v1.target)!.stringData.DATABASE_URL).toContain('hunter2');

    await moveTo(infra, v1.target);
    expect(service()!.spec.selector['dev.anew.release']).toBe(v1.release);

    const v2 = await ship(infra, 'b');
    expect(service()!.spec.selector['dev.anew.release']).toBe(v1.release);
    const flipped = await moveTo(infra, v2.target);
    expect(flipped.previousTarget).toBe(v1.target);
    expect(service()!.spec.selector['dev.anew.release']).toBe(v2.release);
    expect(JSON.parse(service()!.metadata.annotations['dev.anew.route']).history).toEqual([v1.release]);
    // Never patched: v1's Deployment is as deploy wrote it, still scaled up for rollback.
    expect(api.get('apps/v1/deployments', 'apps', v1.target)!.metadata.generation).toBe(1);
    expect(api.get('apps/v1/deployments', 'apps', v1.target)!.spec.replicas).toBe(1);

    const back = await rollback(infra, { app: 'web', environment: 'production', settings, dryRun: false });
    expect(back.release).toBe(v1.release);
    expect(service()!.spec.selector['dev.anew.release']).toBe(v1.release);

    const [env] = await status(infra, { app: 'web', environment: 'production' });
    expect(env!.live).toBe(v1.release);
    expect(env!.drift).toEqual([]);
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(lines.join('\n')).not.toContain(api.token);
  });

  it('a rollout that never becomes ready fails with the reason, is deleted, and changes nothing else', async () => {
    const infra = infraOf({ env: {} });
    const live = await ship(infra, 'c', { env: {} });
    await moveTo(infra, live.target);
    const before = service()!;
    api.behaviour = (d) =>
      d.spec.template.spec.containers[0].image.endsWith(digest('d')) ? 'never-ready' : 'ready';
    const writes = api.writes.length;
    const err = await ship(infra, 'd', { 'health-timeout': 300, env: {} }).catch((e: Error) => e);
    expect(String(err)).toMatch(/did not become ready.*not complete within 0.3 s/s);
    expect(String(err)).toContain('Readiness probe failed: HTTP probe failed with statuscode: 503');
    // Written: the new Deployment and its Service; then deleted; nothing else.
    const touched = api.writes
      .slice(writes)
      .map((w) => `${w.method} ${w.path.split('/').slice(-2).join('/')}`);
    expect(touched.filter((t) => !t.startsWith('DELETE') && !t.includes('dddddddddddd'))).toEqual([]);
    expect(
      api.list('apps/v1/deployments', 'apps').filter((d) => d.metadata.name.includes('dddddddddddd')),
    ).toEqual([]);
    expect(service()).toEqual(before);
  });

  it('a crash-looping pod fails the deploy with its events, without waiting out the timeout', async () => {
    const infra = infraOf();
    api.behaviour = () => 'crash-loop';
    const err = await ship(infra, 'e', { 'health-timeout': 600_000 }).catch((e: Error) => e);
    expect(String(err)).toMatch(/a pod is crash-looping/);
    expect(String(err)).toContain('CrashLoopBackOff');
    expect(String(err)).toContain('BackOff: Back-off restarting failed container app');
    expect(
      api.list('apps/v1/deployments', 'apps').filter((d) => d.metadata.name.includes('eeeeeeeeeeee')),
    ).toEqual([]);
    expect(api.list('v1/secrets', 'apps').filter((d) => d.metadata.name.includes('eeeeeeeeeeee'))).toEqual(
      [],
    );
  });

  it('an unready target never takes traffic: flip refuses it and the Service is unchanged', async () => {
    const infra = infraOf();
    const live = await ship(infra, 'f');
    await moveTo(infra, live.target);
    const next = await ship(infra, '1');
    api.setRollout('apps', next.target, 'never-ready');
    const before = service()!;
    await expect(moveTo(infra, next.target)).rejects.toThrow(/is not ready now.*0\/1 available/s);
    expect(service()).toEqual(before);
  });

  it('kubernetes-service refuses a canary and points to gateway-api, changing nothing', async () => {
    const infra = infraOf();
    const live = await ship(infra, '2');
    await moveTo(infra, live.target);
    const next = await ship(infra, '3');
    const before = service()!;
    await expect(moveTo(infra, next.target, { strategy: 'canary', interval: 0 })).rejects.toThrow(
      /gateway-api/,
    );
    expect(service()).toEqual(before);
  });

  it('two concurrent flips: exactly one wins by resourceVersion, the other is a RouteConflictError', async () => {
    const infra = infraOf();
    const base = await ship(infra, '4');
    await moveTo(infra, base.target);
    const [x, y] = [await ship(infra, '5'), await ship(infra, '6')];
    // Both flips read the Service at one version; their updates reach the server together.
    api.hold('PUT', 2);
    const results = await Promise.allSettled([moveTo(infra, x.target), moveTo(infra, y.target)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(RouteConflictError);
    const winner = (won[0] as PromiseFulfilledResult<{ release: string }>).value.release;
    expect(service()!.spec.selector['dev.anew.release']).toBe(winner);
  });

  it('gateway-api: an HTTPRoute on the Gateway, canary weights per step, a failed step puts all traffic back', async () => {
    const gw = {
      router: 'gateway-api' as const,
      gateway: 'gateways/eg',
      hosts: ['web.example.com'],
      env: {},
    };
    const infra = infraOf(gw);
    const route = () => api.get('gateway.networking.k8s.io/v1/httproutes', 'apps', 'web-production')!;
    const weights = () =>
      route().spec.rules[0].backendRefs.map(
        (b: { name: string; weight: number }) => `${b.name.slice(-6)}=${b.weight}`,
      );
    const v1 = await ship(infra, '7', gw);
    await moveTo(infra, v1.target, gw);
    expect(route().spec.parentRefs).toEqual([
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'gateways', name: 'eg' },
    ]);
    expect(route().spec.hostnames).toEqual(['web.example.com']);
    expect(weights()).toEqual([`${v1.release.slice(-6)}=100`]);

    const v2 = await ship(infra, '8', gw);
    const seen: string[] = [];
    api.afterWrite = (method, path) => {
      if (method === 'PUT' && path.endsWith('/httproutes/web-production')) seen.push(weights().join(' '));
    };
    await moveTo(infra, v2.target, { ...gw, strategy: 'canary', steps: [10, 50, 100], interval: 0 });
    expect(seen).toEqual([
      `${v1.release.slice(-6)}=90 ${v2.release.slice(-6)}=10`,
      `${v1.release.slice(-6)}=50 ${v2.release.slice(-6)}=50`,
      `${v2.release.slice(-6)}=100`,
    ]);

    // v3's pods stop being ready as soon as the route first sends them traffic.
    const v3 = await ship(infra, '9', gw);
    seen.length = 0;
    api.afterWrite = (method, path) => {
      if (method === 'PUT' && path.endsWith('/httproutes/web-production')) {
        seen.push(weights().join(' '));
        api.setRollout('apps', v3.target, 'never-ready');
      }
    };
    await expect(
      moveTo(infra, v3.target, { ...gw, strategy: 'canary', steps: [10, 50, 100], interval: 0 }),
    ).rejects.toThrow(/canary step 10% failed.*no longer ready.*all traffic is back on/s);
    expect(seen).toEqual([
      `${v2.release.slice(-6)}=90 ${v3.release.slice(-6)}=10`,
      `${v2.release.slice(-6)}=100`,
    ]);
    expect(weights()).toEqual([`${v2.release.slice(-6)}=100`]);
    api.afterWrite = () => {};
  });

  it('cleanup scales down and deletes older releases, never the live one; status reports drift', async () => {
    const infra = infraOf({ env: {} });
    const releases = [];
    for (const c of ['a', 'b', 'c']) releases.push(await ship(infra, c, { env: {}, keep: 5 }));
    const [r1, r2, r3] = releases;
    const envName = 'production';
    await moveTo(infra, r2!.target);
    const writes = api.writes.length;
    const removed = await prune(infra, { app: 'web', environment: envName, keep: 0 });
    const names = removed.map((t) => t.name);
    expect(names).toContain(r1!.target);
    expect(names).toContain(r3!.target);
    expect(names).not.toContain(r2!.target);
    expect(api.get('apps/v1/deployments', 'apps', r2!.target)).toBeDefined();
    expect(api.get('apps/v1/deployments', 'apps', r1!.target)).toBeUndefined();
    const ops = api.writes
      .slice(writes)
      .filter((w) => w.path.endsWith(r1!.target))
      .map((w) => `${w.method} ${w.path.split('/').at(-2)}`);
    expect(ops[0]).toBe('PATCH deployments');
    expect(ops).toContain('DELETE deployments');

    // Someone changes the live release's image in place: status says so.
    const live = api.get('apps/v1/deployments', 'apps', r2!.target)!;
    live.spec.template.spec.containers[0].image = 'registry.example/acme/web:latest';
    api.put('apps/v1/deployments', live, 'kubectl-edit');
    api.settle();
    let [env] = await status(infra, { app: 'web', environment: envName });
    expect(env!.drift.join('\n')).toMatch(
      /runs image registry\.example\/ac…, not sha256:b{64} as its label says/,
    );

    // The live Deployment deleted behind anew's back: the Service points to nothing.
    await (infra.engines[0] as KubeEngine).api.request(
      'DELETE',
      `/apis/apps/v1/namespaces/apps/deployments/${r2!.target}`,
    );
    [env] = await status(infra, { app: 'web', environment: envName });
    expect(env!.drift.join('\n')).toMatch(
      new RegExp(`route sends traffic to the pods of release ${r2!.release}`),
    );
  });
});

describe('kubernetes: a namespace per pull request', () => {
  let api: KubeStandIn;
  beforeEach(async () => {
    api = await startKubeApi({ namespaces: ['default', 'web-pr-8'] });
  });
  afterEach(async () => {
    expect(api.rejected).toEqual([]);
    await api.close();
  });

  it('deploy creates the preview namespace, cleanup with all removes it; one the cluster had stays', async () => {
    const lines: string[] = [];
    const settings: Settings = {
      ...DEFAULT_SETTINGS,
      driver: 'kubernetes',
      router: 'kubernetes-service',
      kubeconfig: api.kubeconfig(),
      namespace: 'web-{env}',
    };
    const infra = infraFor(settings, new ConsoleLogger((l) => lines.push(l)));
    (infra.engines[0] as unknown as { pollMs: number }).pollMs = 5;
    for (const environment of ['pr-7', 'pr-8']) {
      const d = await deploy(infra, {
        image: image('a'),
        app: 'web',
        environment,
        settings,
        run: run as never,
        dryRun: false,
      });
      await flip(infra, { app: 'web', environment, to: d.target, settings, dryRun: false });
      expect(
        api.get('v1/services', `web-${environment}`, `web-${environment}`)!.spec.selector['dev.anew.release'],
      ).toBe(d.release);
    }
    expect(api.get('v1/namespaces', '', 'web-pr-7')!.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'anew',
      'dev.anew.environment': 'pr-7',
    });
    // status finds the preview anew made (the cluster's own namespace is not searched without its environment).
    expect((await status(infra, { app: 'web' })).map((e) => e.environment)).toContain('pr-7');

    for (const environment of ['pr-7', 'pr-8']) {
      const res = await retireEnvironment(infra, { app: 'web', environment });
      expect(res.route).toBe(true);
    }
    expect(api.get('v1/namespaces', '', 'web-pr-7')).toBeUndefined();
    // A namespace anew did not make is the cluster's: emptied of anew's objects, kept.
    expect(api.get('v1/namespaces', '', 'web-pr-8')).toBeDefined();
    expect(api.list('apps/v1/deployments', 'web-pr-8')).toEqual([]);
    expect(api.list('v1/services', 'web-pr-8')).toEqual([]);
  });
});

describe('kubernetes: bad input is refused before anything is written', () => {
  let api: KubeStandIn;
  beforeAll(async () => {
    api = await startKubeApi({ namespaces: ['default', 'apps'] });
  });
  afterAll(async () => api?.close());
  const base = (): Settings => ({
    ...DEFAULT_SETTINGS,
    driver: 'kubernetes',
    router: 'kubernetes-service',
    kubeconfig: api.kubeconfig(['standin']),
    namespace: 'apps',
  });
  const attempt = (settings: Settings) =>
    deploy(infraFor(settings, new ConsoleLogger(() => {})), {
      image: image('a'),
      app: 'web',
      environment: 'production',
      settings,
      run: run as never,
      dryRun: false,
    });

  it('a tag instead of a digest', async () => {
    expect(() => parsePinnedReference('registry.example/acme/web:1.0')).toThrow(/digest/);
    const engine = new KubeEngine({ kubeconfig: api.kubeconfig(), namespace: 'apps' });
    const meta = {
      app: 'web',
      environment: 'production',
      image: 'registry.example/acme/web:1.0',
      digest: digest('a'),
      release: 'r',
      created: '',
      healthPath: '/',
    };
    await expect(engine.pull(meta.image)).rejects.toThrow(
      /"registry.example\/acme\/web:1.0" is not pinned by digest/,
    );
    await expect(engine.start({ meta, name: 'anew-web-x', port: 8080, env: {} })).rejects.toThrow(
      /not pinned by digest/,
    );
    expect(api.writes).toEqual([]);
  });

  it('a dry run plans the rollout and writes nothing', async () => {
    const lines: string[] = [];
    const settings = base();
    const res = await deploy(infraFor(settings, new ConsoleLogger((l) => lines.push(l))), {
      image: image('a'),
      app: 'web',
      environment: 'production',
      settings,
      run: run as never,
      dryRun: true,
    });
    expect(res.dryRun).toBe(true);
    expect(lines.join('\n')).toContain('then wait until its rollout is complete (readiness probe GET /)');
    expect(api.writes).toEqual([]);
  });

  it('an unknown namespace', async () => {
    await expect(attempt({ ...base(), namespace: 'nope' })).rejects.toThrow(
      /namespace "nope" does not exist in the cluster/,
    );
    expect(api.writes).toEqual([]);
  });

  it('a kubeconfig without the named context, naming the contexts it has', async () => {
    await expect(attempt({ ...base(), 'kube-context': 'prod' })).rejects.toThrow(
      /kube-context "prod" is not in the kubeconfig setting \(it has: standin\)/,
    );
    expect(api.writes).toEqual([]);
  });

  it('a router that cannot reach a cluster, or a gateway-api without a gateway', () => {
    expect(() => infraFor({ ...base(), router: 'caddy' }, new ConsoleLogger(() => {}))).toThrow(
      /kubernetes-service or gateway-api/,
    );
    expect(() => infraFor({ ...base(), router: 'gateway-api' }, new ConsoleLogger(() => {}))).toThrow(
      /gateway setting/,
    );
  });

  it('the stand-in keeps the API server rules the driver relies on: schema (422), stale writes and apply conflicts (409)', async () => {
    const kube = new KubeApi({ kubeconfig: api.kubeconfig(), namespace: 'apps' });
    const path = '/apis/apps/v1/namespaces/apps/deployments/probe';
    const dep = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'probe', namespace: 'apps' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { a: 'b' } },
        template: {
          metadata: { labels: { a: 'b' } },
          spec: { containers: [{ name: 'app', image: 'x@sha256:00' }] },
        },
      },
    };
    const bad = { ...dep, spec: { ...dep.spec, replicas: 'two' } };
    await expect(kube.apply(path, bad)).rejects.toMatchObject({ code: 422 });
    const created = await kube.apply(path, dep);
    // Another manager takes replicas; anew's apply of another value conflicts unless forced.
    await kube.request('PATCH', path, {
      body: { spec: { replicas: 3 } },
      patch: 'merge',
      query: { fieldManager: 'hpa' },
    });
    await expect(kube.apply(path, dep)).rejects.toMatchObject({ code: 409 });
    expect((await kube.apply(path, dep, true))['spec']['replicas']).toBe(1);
    // A write at a stale resourceVersion is refused.
    await expect(
      kube.request('PUT', path, {
        body: {
          ...dep,
          metadata: { ...dep.metadata, resourceVersion: created['metadata']['resourceVersion'] },
        },
      }),
    ).rejects.toBeInstanceOf(KubeApiError);
    const router = new KubeServiceRouter(kube, 'apps');
    const spec = {
      app: 'x',
      environment: 'y',
      hosts: [],
      listen: ':80',
      backends: [{ release: 'r1', target: 't1', dials: [], weight: 100 }],
      history: [],
    };
    const first = await router.write(spec, undefined);
    await expect(router.write(spec, undefined)).rejects.toBeInstanceOf(RouteConflictError);
    await router.write({ ...spec, backends: [{ ...spec.backends[0]!, release: 'r2' }] }, first);
    await expect(router.write(spec, first)).rejects.toBeInstanceOf(RouteConflictError);
    await expect(router.remove(first)).rejects.toBeInstanceOf(RouteConflictError);
    expect(api.rejected).toHaveLength(1);
  });
});
