import { errorMessage, UserError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import { metaFromLabels, type StartSpec, type Target, type TargetEngine } from '../index.ts';
import {
  KubeApi,
  KubeApiError,
  type KubeConnection,
  type KubeObject,
  listIn,
  namespaceFor,
  namespacesOf,
  perEnvironment,
} from './api.ts';
import {
  releaseLabels,
  releaseObjects,
  requireDigestImage,
  requireServiceName,
  SELECT,
  SERVICE_PORT,
} from './objects.ts';

export interface KubeEngineOptions extends KubeConnection {
  replicas?: number;
  log?: Logger;
  /** How often a rollout is read while waiting for it. */
  pollMs?: number;
}

const enc = encodeURIComponent;
type Collection = 'deployments' | 'services' | 'secrets' | 'pods' | 'events';

function path(ns: string, kind: Collection, name?: string): string {
  const base =
    kind === 'deployments'
      ? `/apis/apps/v1/namespaces/${enc(ns)}/deployments`
      : `/api/v1/namespaces/${enc(ns)}/${kind}`;
  return name ? `${base}/${enc(name)}` : base;
}

/**
 * Releases as Deployments in a namespace. Each release is a new Deployment
 * (and a Service of its own), never a change to a live one; the cluster
 * checks health through the readiness probe, and anew reads the rollout's
 * status rather than probing pods it cannot reach.
 */
export class KubeEngine implements TargetEngine {
  readonly api: KubeApi;
  readonly id: string;
  private readonly replicas: number;
  private readonly pollMs: number;

  constructor(private readonly opts: KubeEngineOptions) {
    this.api = new KubeApi(opts, opts.log);
    this.id = `kubernetes ${opts.context ? `${opts.context}/` : ''}${opts.namespace}`;
    this.replicas = opts.replicas ?? 1;
    this.pollMs = opts.pollMs ?? 1000;
  }

  private nsOf(environment: string): string {
    return namespaceFor(this.opts.namespace, environment);
  }

  /** The cluster pulls; here anew only checks what it can before any write: the image and the namespace. */
  async pull(image: string): Promise<void> {
    requireDigestImage(image);
    if (!perEnvironment(this.opts.namespace)) await this.api.checkNamespace(this.opts.namespace);
  }

  /** One target per release: the Deployment (its pods are the cluster's to place and count). */
  async start(spec: StartSpec): Promise<Target[]> {
    const ns = this.nsOf(spec.meta.environment);
    const objects = releaseObjects({
      ...spec,
      replicas: this.replicas,
      namespace: ns,
      progressDeadlineSeconds: 600,
    });
    if (perEnvironment(this.opts.namespace))
      await this.ensureNamespace(ns, spec.meta.app, spec.meta.environment);
    else await this.api.checkNamespace(ns);
    if (await this.api.get(path(ns, 'deployments', spec.name)))
      throw new UserError(
        `Deployment ${spec.name} already exists in ${ns}`,
        'A release is never changed in place: deploy again for a new release',
      );
    const written: Collection[] = [];
    try {
      if (objects.secret) {
        await this.api.apply(path(ns, 'secrets', spec.name), objects.secret);
        written.push('secrets');
      }
      const dep = await this.api.apply(path(ns, 'deployments', spec.name), objects.deployment);
      written.push('deployments');
      await this.api.apply(path(ns, 'services', spec.name), objects.service);
      written.push('services');
      return [this.toTarget(dep)!];
    } catch (e) {
      await Promise.all(written.map((k) => this.deleteQuietly(path(ns, k, spec.name))));
      if (e instanceof KubeApiError && e.code === 422)
        throw new UserError(
          `the cluster refused the release's objects: ${e.message}`,
          'Check port, memory, cpus and env',
        );
      throw e;
    }
  }

  /** A preview's namespace, made by anew and labelled so that retiring the environment may remove it. */
  private async ensureNamespace(ns: string, app: string, environment: string): Promise<void> {
    if (await this.api.get(`/api/v1/namespaces/${enc(ns)}`)) return;
    requireServiceName(ns, `the namespace of ${app}/${environment}`);
    await this.api.apply(`/api/v1/namespaces/${enc(ns)}`, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: ns,
        labels: { [SELECT.managedBy]: 'anew', [SELECT.app]: app, [SELECT.environment]: environment },
      },
    });
  }

  async list(filter: { app?: string; environment?: string }): Promise<Target[]> {
    const selector: Record<string, string> = { [SELECT.managedBy]: 'anew' };
    if (filter.app) selector[SELECT.app] = filter.app;
    if (filter.environment) selector[SELECT.environment] = filter.environment;
    const namespaces = filter.environment
      ? [this.nsOf(filter.environment)]
      : await namespacesOf(this.api, this.opts.namespace, filter.app);
    const deployments = await listIn(this.api, namespaces, (ns) => path(ns, 'deployments'), selector);
    return deployments.map((d) => this.toTarget(d)).filter((t): t is Target => t !== undefined);
  }

  /** Scales down first: the pods stop before their Deployment, Service and Secret go. */
  async remove(target: Target): Promise<void> {
    const ns = this.nsOf(target.meta.environment);
    await this.api
      .request('PATCH', path(ns, 'deployments', target.name), {
        body: { spec: { replicas: 0 } },
        patch: 'merge',
        query: { fieldManager: 'anew' },
      })
      .catch((e: unknown) => {
        if (!(e instanceof KubeApiError && e.code === 404)) throw e;
      });
    for (const kind of ['services', 'deployments', 'secrets'] as const)
      await this.deleteQuietly(path(ns, kind, target.name));
  }

  /** Removes a preview's namespace when anew made it for this environment; a namespace of the cluster's stays. */
  async retire(app: string, environment: string): Promise<void> {
    if (!perEnvironment(this.opts.namespace)) return;
    const ns = this.nsOf(environment);
    const labels = (await this.api.get(`/api/v1/namespaces/${enc(ns)}`))?.['metadata']?.['labels'] ?? {};
    if (
      labels[SELECT.managedBy] !== 'anew' ||
      labels[SELECT.app] !== app ||
      labels[SELECT.environment] !== environment
    )
      return;
    this.opts.log?.info(`Removing the namespace ${ns} of ${app}/${environment}`);
    await this.deleteQuietly(`/api/v1/namespaces/${enc(ns)}`);
  }

  async logs(target: Target, lines: number): Promise<string> {
    return (await this.failureReasons(target, lines)).join('\n');
  }

  /** The API client holds no connection between requests. */
  async close(): Promise<void> {}

  async runsLabelledImage(target: Target): Promise<boolean> {
    return target.imageId === target.meta.image;
  }

  /**
   * Waits until the rollout is complete: the controller has seen this
   * generation and every replica is updated and available. Returns why not
   * when the time is up, the rollout reports a failure, or a pod crash-loops.
   */
  async waitReady(target: Target, timeoutMs: number): Promise<string | undefined> {
    const ns = this.nsOf(target.meta.environment);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dep = await this.api.get(path(ns, 'deployments', target.name));
      if (!dep) return `the Deployment ${target.name} is gone`;
      if (rolloutComplete(dep)) return undefined;
      const failed = (dep['status']?.['conditions'] as KubeObject[] | undefined)?.find(
        (c) =>
          (c['type'] === 'Progressing' && c['status'] === 'False') ||
          (c['type'] === 'ReplicaFailure' && c['status'] === 'True'),
      );
      const crashing = (await this.pods(target)).some((p) =>
        ((p['status']?.['containerStatuses'] as KubeObject[] | undefined) ?? []).some(
          (c) => c['state']?.['waiting']?.['reason'] === 'CrashLoopBackOff',
        ),
      );
      if (failed || crashing || Date.now() >= deadline) {
        const reasons = await this.failureReasons(target, 10);
        const head = failed
          ? 'the rollout failed'
          : crashing
            ? 'a pod is crash-looping'
            : timeoutMs > 0
              ? `the rollout was not complete within ${timeoutMs / 1000} s`
              : 'the rollout is not complete';
        return `${head} (${describeRollout(dep)})${reasons.length ? `:\n${reasons.map((r) => `    ${r}`).join('\n')}` : ''}`;
      }
      await new Promise((ok) => setTimeout(ok, Math.min(this.pollMs, Math.max(0, deadline - Date.now()))));
    }
  }

  private pods(target: Target): Promise<KubeObject[]> {
    return this.api.list(path(this.nsOf(target.meta.environment), 'pods'), releaseLabels(target.meta));
  }

  /** What the cluster says went wrong: the Deployment's conditions, its pods' states and their warning events. */
  private async failureReasons(target: Target, max: number): Promise<string[]> {
    const ns = this.nsOf(target.meta.environment);
    try {
      const out: string[] = [];
      const dep = await this.api.get(path(ns, 'deployments', target.name));
      for (const c of (dep?.['status']?.['conditions'] as KubeObject[] | undefined) ?? [])
        if (c['status'] !== 'True' || c['type'] === 'ReplicaFailure')
          out.push(`Deployment ${c['type']}: ${c['reason'] ?? ''} ${c['message'] ?? ''}`.trim());
      for (const p of await this.pods(target)) {
        const podName = String(p['metadata']?.['name']);
        for (const c of (p['status']?.['containerStatuses'] as KubeObject[] | undefined) ?? []) {
          const waiting = c['state']?.['waiting'];
          if (waiting) out.push(`pod ${podName}: ${waiting['reason']} ${waiting['message'] ?? ''}`.trim());
        }
        const events = await this.api.request('GET', path(ns, 'events'), {
          query: { fieldSelector: `involvedObject.name=${podName}` },
        });
        for (const e of ((events['items'] as KubeObject[] | undefined) ?? []).filter(
          (x) => x['type'] === 'Warning',
        ))
          out.push(
            `pod ${podName}: ${e['reason']}: ${e['message']}${e['count'] > 1 ? ` (${e['count']}×)` : ''}`,
          );
      }
      return out.slice(-max);
    } catch (e) {
      return [`(the reasons could not be read: ${errorMessage(e)})`];
    }
  }

  private async deleteQuietly(p: string): Promise<void> {
    await this.api
      .request('DELETE', p, { query: { propagationPolicy: 'Background' } })
      .catch((e: unknown) => {
        if (!(e instanceof KubeApiError && e.code === 404)) throw e;
      });
  }

  private toTarget(dep: KubeObject): Target | undefined {
    const meta = metaFromLabels(dep['metadata']?.['annotations']);
    if (!meta) return undefined;
    const name = String(dep['metadata']['name']);
    const container = (dep['spec']?.['template']?.['spec']?.['containers'] as KubeObject[] | undefined)?.[0];
    const wanted = dep['spec']?.['replicas'] ?? 1;
    return {
      name,
      engine: this.id,
      address: serviceAddress(name, String(dep['metadata']['namespace'] ?? this.nsOf(meta.environment))),
      url: '',
      meta,
      state: wanted === 0 ? 'scaled-down' : rolloutComplete(dep) ? 'running' : 'unready',
      imageId: String(container?.['image'] ?? ''),
    };
  }
}

/** What a router dials for a release: its own Service, by the cluster's DNS name. */
export function serviceAddress(name: string, namespace: string): string {
  return `${name}.${namespace}.svc:${SERVICE_PORT}`;
}

export function rolloutComplete(dep: KubeObject): boolean {
  const want = dep['spec']?.['replicas'] ?? 1;
  const s = dep['status'] ?? {};
  return (
    want > 0 &&
    (s['observedGeneration'] ?? 0) >= (dep['metadata']?.['generation'] ?? 1) &&
    (s['updatedReplicas'] ?? 0) >= want &&
    (s['availableReplicas'] ?? 0) >= want &&
    (s['replicas'] ?? 0) <= want
  );
}

function describeRollout(dep: KubeObject): string {
  const s = dep['status'] ?? {};
  return `${s['availableReplicas'] ?? 0}/${dep['spec']?.['replicas'] ?? 1} available, ${s['updatedReplicas'] ?? 0} updated`;
}
