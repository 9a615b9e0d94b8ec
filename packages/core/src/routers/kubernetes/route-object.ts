import { UserError } from '../../errors/index.ts';
import {
  type KubeApi,
  KubeApiError,
  type KubeObject,
  listIn,
  namespaceFor,
  namespacesOf,
} from '../../targets/kubernetes/index.ts';
import { requireServiceName, SELECT } from '../../targets/kubernetes/objects.ts';
import { RouteConflictError, type RouteSpec, type RouteState } from '../index.ts';

/** The annotation that makes a Service or HTTPRoute describe itself: backends, hosts and history, for rollback. */
export const ROUTE_ANNOTATION = 'dev.anew.route';
/** The label that tells a route object from a release's own Service. */
export const ROUTE_LABEL = 'dev.anew.route';

/**
 * What the Service and HTTPRoute routers share: one object per app and
 * environment, read, written and removed under its resourceVersion, so two
 * flips of one environment cannot both win.
 */
export abstract class KubeRouteObject {
  protected abstract readonly collection: string;
  protected abstract readonly kind: string;

  constructor(
    protected readonly api: KubeApi,
    protected readonly namespace: string,
  ) {}

  /** The object's content for a route; `current` is the live object, whose other fields are kept. */
  protected abstract render(spec: RouteSpec, current: KubeObject | undefined): KubeObject;

  /** The namespace of an environment (the setting, or its `{env}` template filled in). */
  protected nsOf(environment: string): string {
    return namespaceFor(this.namespace, environment);
  }

  protected base(environment: string): string {
    return this.collection.replace('{ns}', encodeURIComponent(this.nsOf(environment)));
  }

  objectName(app: string, environment: string): string {
    return `${app}-${environment}`;
  }

  protected metadata(spec: RouteSpec, current: KubeObject | undefined): KubeObject {
    const { app, environment, hosts, listen, backends, history } = spec;
    return {
      ...(current?.['metadata'] ?? {}),
      name: this.objectName(app, environment),
      namespace: this.nsOf(environment),
      labels: {
        ...(current?.['metadata']?.['labels'] ?? {}),
        [SELECT.app]: app,
        [SELECT.environment]: environment,
        [SELECT.managedBy]: 'anew',
        [ROUTE_LABEL]: this.kind.toLowerCase(),
      },
      annotations: {
        ...(current?.['metadata']?.['annotations'] ?? {}),
        [ROUTE_ANNOTATION]: JSON.stringify({ hosts, listen, backends, history }),
      },
    };
  }

  protected stateOf(obj: KubeObject): RouteState | undefined {
    const raw = obj['metadata']?.['annotations']?.[ROUTE_ANNOTATION];
    const labels = obj['metadata']?.['labels'] ?? {};
    if (!raw) return undefined;
    try {
      const r = JSON.parse(raw) as Pick<RouteSpec, 'hosts' | 'listen' | 'backends' | 'history'>;
      return {
        app: labels[SELECT.app],
        environment: labels[SELECT.environment],
        hosts: r.hosts ?? [],
        listen: r.listen ?? '',
        backends: r.backends ?? [],
        history: r.history ?? [],
        version: String(obj['metadata']['resourceVersion']),
      };
    } catch {
      return undefined;
    }
  }

  async readObject(app: string, environment: string): Promise<KubeObject | undefined> {
    return this.api.get(`${this.base(environment)}/${encodeURIComponent(this.objectName(app, environment))}`);
  }

  async read(app: string, environment: string): Promise<RouteState | undefined> {
    const obj = await this.readObject(app, environment);
    return obj ? this.stateOf(obj) : undefined;
  }

  async list(app?: string): Promise<RouteState[]> {
    const selector: Record<string, string> = {
      [SELECT.managedBy]: 'anew',
      [ROUTE_LABEL]: this.kind.toLowerCase(),
    };
    if (app) selector[SELECT.app] = app;
    const namespaces = await namespacesOf(this.api, this.namespace, app);
    const objects = await listIn(
      this.api,
      namespaces,
      (ns) => this.collection.replace('{ns}', encodeURIComponent(ns)),
      selector,
    );
    return objects.map((o) => this.stateOf(o)).filter((s): s is RouteState => s !== undefined);
  }

  async write(spec: RouteSpec, expected: RouteState | undefined): Promise<RouteState> {
    const name = this.objectName(spec.app, spec.environment);
    const ns = this.nsOf(spec.environment);
    const where = `${this.kind} ${ns}/${name}`;
    requireServiceName(name, `the ${this.kind} of ${spec.app}/${spec.environment}`);
    const current = expected ? await this.readObject(spec.app, spec.environment) : undefined;
    if (expected && current?.['metadata']?.['resourceVersion'] !== expected.version)
      throw new RouteConflictError(`${where} changed since it was read`);
    const body = this.render(spec, current);
    try {
      const out = expected
        ? await this.api.request('PUT', `${this.base(spec.environment)}/${encodeURIComponent(name)}`, {
            body: { ...body, metadata: { ...body['metadata'], resourceVersion: expected.version } },
            query: { fieldManager: 'anew' },
          })
        : await this.api.request('POST', this.base(spec.environment), {
            body,
            query: { fieldManager: 'anew' },
          });
      return this.stateOf(out)!;
    } catch (e) {
      if (e instanceof KubeApiError && e.code === 409)
        throw new RouteConflictError(
          expected
            ? `${where} was changed by another writer (resourceVersion ${expected.version} is stale)`
            : `${where} was created by another writer`,
        );
      if (e instanceof KubeApiError && e.code === 404)
        throw new UserError(`namespace "${ns}" does not exist in the cluster`, 'Create it, or set namespace');
      if (e instanceof KubeApiError && e.code === 422)
        throw new UserError(`the cluster refused ${where}: ${e.message}`, 'Check hosts and gateway');
      throw e;
    }
  }

  async remove(expected: RouteState): Promise<void> {
    const name = this.objectName(expected.app, expected.environment);
    await this.api
      .request('DELETE', `${this.base(expected.environment)}/${encodeURIComponent(name)}`, {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          preconditions: { resourceVersion: expected.version },
        },
      })
      .catch((e: unknown) => {
        if (e instanceof KubeApiError && e.code === 409)
          throw new RouteConflictError(
            `${this.kind} ${this.nsOf(expected.environment)}/${name} changed since it was read`,
          );
        if (!(e instanceof KubeApiError && e.code === 404)) throw e;
      });
  }

  /** Inside the cluster only: no address on the runner reaches it, so canary steps watch readiness alone. */
  publicUrl(_listen: string): string {
    return '';
  }
}
