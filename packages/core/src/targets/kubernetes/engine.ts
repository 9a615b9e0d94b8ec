import { errorMessage, UserError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import { metaFromLabels, type StartSpec, type Target, type TargetEngine } from '../index.ts';
import { KubeApi, KubeApiError, type KubeConnection, type KubeObject } from './api.ts';
import { releaseLabels, releaseObjects, requireDigestImage, SELECT, SERVICE_PORT } from './objects.ts';

export interface KubeEngineOptions extends KubeConnection {
  replicas?: number;
  log?: Logger;
  /** How often a rollout is read while waiting for it. */
  pollMs?: number;
}

const enc = encodeURIComponent;

/**
 * Releases as Deployments in one namespace. Each release is a new
 * Deployment (and a Service of its own), never a change to a live one; the
 * cluster checks health through the readiness probe, and anew reads the
 * rollout's status rather than probing pods it cannot reach.
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

  private get ns(): string {
    return enc(this.opts.namespace);
  }
  private path(kind: 'deployments' | 'services' | 'secrets', name?: string): string {
    const base =
      kind === 'deployments'
        ? `/apis/apps/v1/namespaces/${this.ns}/deployments`
        : `/api/v1/namespaces/${this.ns}/${kind}`;
    return name ? `${base}/${enc(name)}` : base;
  }

  /** The cluster pulls; here anew only checks what it can before any write: the image and the namespace. */
  async pull(image: string): Promise<void> {
    requireDigestImage(image);
    await this.api.checkNamespace();
  }

  async start(spec: StartSpec): Promise<Target> {
    const objects = releaseObjects({
      ...spec,
      replicas: this.replicas,
      namespace: this.opts.namespace,
      progressDeadlineSeconds: 600,
    });
    await this.api.checkNamespace();
    if (await this.api.get(this.path('deployments', spec.name)))
      throw new UserError(
        `Deployment ${spec.name} already exists in ${this.opts.namespace}`,
        'A release is never changed in place: deploy again for a new release',
      );
    const written: Array<'secrets' | 'deployments' | 'services'> = [];
    try {
      if (objects.secret) {
        await this.api.apply(this.path('secrets', spec.name), objects.secret);
        written.push('secrets');
      }
      const dep = await this.api.apply(this.path('deployments', spec.name), objects.deployment);
      written.push('deployments');
      await this.api.apply(this.path('services', spec.name), objects.service);
      written.push('services');
      return this.toTarget(dep)!;
    } catch (e) {
      await Promise.all(written.map((k) => this.deleteQuietly(this.path(k, spec.name))));
      if (e instanceof KubeApiError && e.code === 422)
        throw new UserError(
          `the cluster refused the release's objects: ${e.message}`,
          'Check port, memory, cpus and env',
        );
      throw e;
    }
  }

  async list(filter: { app?: string; environment?: string }): Promise<Target[]> {
    const selector: Record<string, string> = { [SELECT.managedBy]: 'anew' };
    if (filter.app) selector[SELECT.app] = filter.app;
    if (filter.environment) selector[SELECT.environment] = filter.environment;
    const items = await this.api.list(this.path('deployments'), selector).catch((e: unknown) => {
      if (e instanceof KubeApiError && e.code === 404) return [];
      throw e;
    });
    return items.map((d) => this.toTarget(d)).filter((t): t is Target => t !== undefined);
  }

  /** Scales down first, so no pod of a retired release outlives its Deployment's removal by a grace period unseen. */
  async remove(target: Target): Promise<void> {
    await this.api
      .request('PATCH', this.path('deployments', target.name), {
        body: { spec: { replicas: 0 } },
        patch: 'merge',
        query: { fieldManager: 'anew' },
      })
      .catch((e: unknown) => {
        if (!(e instanceof KubeApiError && e.code === 404)) throw e;
      });
    for (const kind of ['services', 'deployments', 'secrets'] as const)
      await this.deleteQuietly(this.path(kind, target.name));
  }

  async logs(target: Target, lines: number): Promise<string> {
    return (await this.failureReasons(target.name, lines)).join('\n');
  }

  async runsLabelledImage(target: Target): Promise<boolean> {
    return target.imageId === target.meta.image;
  }

  /**
   * Waits until the rollout is complete: the controller has seen this
   * generation and every replica is updated and available. Returns why not
   * when the time is up, the rollout reports a failure, or a pod crash-loops.
   */
  async waitReady(target: Target, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dep = await this.api.get(this.path('deployments', target.name));
      if (!dep) return `the Deployment ${target.name} is gone`;
      if (rolloutComplete(dep)) return undefined;
      const failed = (dep['status']?.['conditions'] as KubeObject[] | undefined)?.find(
        (c) =>
          (c['type'] === 'Progressing' && c['status'] === 'False') ||
          (c['type'] === 'ReplicaFailure' && c['status'] === 'True'),
      );
      const crashing = await this.crashLooping(target.name);
      if (failed || crashing || Date.now() >= deadline) {
        const reasons = await this.failureReasons(target.name, 10);
        const head = failed
          ? `the rollout failed`
          : crashing
            ? `a pod is crash-looping`
            : timeoutMs > 0
              ? `the rollout was not complete within ${timeoutMs / 1000} s`
              : 'the rollout is not complete';
        return `${head} (${describeRollout(dep)})${reasons.length ? `:\n${reasons.map((r) => `    ${r}`).join('\n')}` : ''}`;
      }
      await new Promise((ok) => setTimeout(ok, Math.min(this.pollMs, Math.max(0, deadline - Date.now()))));
    }
  }

  private async pods(name: string): Promise<KubeObject[]> {
    const dep = await this.api.get(this.path('deployments', name));
    const meta = dep ? metaFromLabels(dep['metadata']?.['annotations']) : undefined;
    if (!meta) return [];
    return this.api.list(`/api/v1/namespaces/${this.ns}/pods`, releaseLabels(meta));
  }

  private async crashLooping(name: string): Promise<boolean> {
    return (await this.pods(name)).some((p) =>
      ((p['status']?.['containerStatuses'] as KubeObject[] | undefined) ?? []).some(
        (c) => c['state']?.['waiting']?.['reason'] === 'CrashLoopBackOff',
      ),
    );
  }

  /** What the cluster says went wrong: the Deployment's conditions, its pods' states and their warning events. */
  private async failureReasons(name: string, max: number): Promise<string[]> {
    try {
      const out: string[] = [];
      const dep = await this.api.get(this.path('deployments', name));
      for (const c of (dep?.['status']?.['conditions'] as KubeObject[] | undefined) ?? [])
        if (c['status'] !== 'True' || c['type'] === 'ReplicaFailure')
          out.push(`Deployment ${c['type']}: ${c['reason'] ?? ''} ${c['message'] ?? ''}`.trim());
      for (const p of await this.pods(name)) {
        const podName = String(p['metadata']?.['name']);
        for (const c of (p['status']?.['containerStatuses'] as KubeObject[] | undefined) ?? []) {
          const waiting = c['state']?.['waiting'];
          if (waiting) out.push(`pod ${podName}: ${waiting['reason']} ${waiting['message'] ?? ''}`.trim());
        }
        const events = await this.api.request('GET', `/api/v1/namespaces/${this.ns}/events`, {
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

  private async deleteQuietly(path: string): Promise<void> {
    await this.api
      .request('DELETE', path, { query: { propagationPolicy: 'Background' } })
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
      address: serviceAddress(name, this.opts.namespace),
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
