import { UserError } from '../../errors/index.ts';
import { type KubeObject, releaseLabels, serviceAddress } from '../../targets/kubernetes/index.ts';
import { PORT_NAME, SELECT, SERVICE_PORT } from '../../targets/kubernetes/objects.ts';
import type { Router, RouteSpec } from '../index.ts';
import { KubeRouteObject } from './route-object.ts';

/**
 * Blue-green through one Service per app and environment: a flip moves its
 * selector to the new release's pods in one update. A Service cannot split
 * traffic by weight, so a canary is refused.
 */
export class KubeServiceRouter extends KubeRouteObject implements Router {
  protected readonly collection = '/api/v1/namespaces/{ns}/services';
  protected readonly kind = 'Service';

  protected render(spec: RouteSpec, current: KubeObject | undefined): KubeObject {
    if (spec.backends.length !== 1)
      throw new UserError(
        `router kubernetes-service moves all traffic at once; it cannot split ${spec.app}/${spec.environment} between ${spec.backends.length} releases`,
        'Use strategy blue-green, or router gateway-api for canary steps',
      );
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: this.metadata(spec, current),
      spec: {
        ...(current?.['spec'] ?? { type: 'ClusterIP' }),
        selector: releaseLabels({
          app: spec.app,
          environment: spec.environment,
          release: spec.backends[0]!.release,
        }),
        ports: [{ name: PORT_NAME, port: SERVICE_PORT, targetPort: PORT_NAME, protocol: 'TCP' }],
      },
    };
  }

  /** The releases whose Deployments the selector matches now; a selector that matches none says so. */
  async dials(app: string, environment: string): Promise<string[]> {
    const svc = await this.readObject(app, environment);
    const selector = (svc?.['spec']?.['selector'] ?? {}) as Record<string, string>;
    if (!svc || Object.keys(selector).length === 0) return [];
    const deps = await this.api.list(
      `/apis/apps/v1/namespaces/${encodeURIComponent(this.nsOf(environment))}/deployments`,
      {
        ...selector,
        [SELECT.managedBy]: 'anew',
      },
    );
    const live = deps.filter((d) => (d['spec']?.['replicas'] ?? 1) > 0);
    if (live.length === 0)
      return [`the pods of release ${selector[SELECT.release] ?? '?'} (Service ${svc['metadata']['name']})`];
    return live.map((d) => serviceAddress(d['metadata']['name'], this.nsOf(environment)));
  }
}
