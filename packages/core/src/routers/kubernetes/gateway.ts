import { UserError } from '../../errors/index.ts';
import { type KubeApi, type KubeObject, serviceAddress } from '../../targets/kubernetes/index.ts';
import { SERVICE_PORT } from '../../targets/kubernetes/objects.ts';
import type { Router, RouteSpec } from '../index.ts';
import { KubeRouteObject } from './route-object.ts';

/** A Gateway named `namespace/name`, as the gateway setting gives it. */
export function parseGateway(value: string, defaultNamespace: string): { namespace: string; name: string } {
  const m = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(value.trim());
  if (!m)
    throw new UserError(
      `gateway is "${value}"`,
      'Name the Gateway the HTTPRoute attaches to as namespace/name, e.g. envoy-gateway-system/eg',
    );
  return { namespace: m[1] ?? defaultNamespace, name: m[3]! };
}

/**
 * Traffic through the Gateway API: one HTTPRoute per environment attached to
 * the Gateway, with one backend per release (the release's own Service);
 * canary steps are the backends' weights.
 */
export class GatewayRouter extends KubeRouteObject implements Router {
  protected readonly collection = '/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes';
  protected readonly kind = 'HTTPRoute';
  private readonly gateway: string;

  constructor(api: KubeApi, namespace: string, gateway: string) {
    super(api, namespace);
    if (!gateway.trim())
      throw new UserError(
        'router gateway-api needs the gateway setting',
        'Name the Gateway as namespace/name',
      );
    parseGateway(gateway, 'default');
    this.gateway = gateway;
  }

  protected render(spec: RouteSpec, current: KubeObject | undefined): KubeObject {
    // Without a namespace, the Gateway is in the route's own.
    const gateway = parseGateway(this.gateway, this.nsOf(spec.environment));
    return {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: this.metadata(spec, current),
      spec: {
        parentRefs: [
          {
            group: 'gateway.networking.k8s.io',
            kind: 'Gateway',
            namespace: gateway.namespace,
            name: gateway.name,
          },
        ],
        ...(spec.hosts.length ? { hostnames: spec.hosts } : {}),
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/' } }],
            backendRefs: spec.backends.map((b) => ({
              group: '',
              kind: 'Service',
              name: b.target,
              port: SERVICE_PORT,
              weight: b.weight,
            })),
          },
        ],
      },
    };
  }

  async dials(app: string, environment: string): Promise<string[]> {
    const route = await this.readObject(app, environment);
    const refs = ((route?.['spec']?.['rules'] as KubeObject[] | undefined) ?? []).flatMap(
      (r) => (r['backendRefs'] as KubeObject[] | undefined) ?? [],
    );
    return refs
      .filter((b) => (b['weight'] ?? 1) > 0)
      .map((b) => serviceAddress(String(b['name']), this.nsOf(environment)));
  }
}
