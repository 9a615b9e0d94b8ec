import { UserError } from '../../errors/index.ts';
import { shortDigest } from '../../ref/index.ts';
import { LABELS, labelsOf, type ReleaseMeta, type StartSpec } from '../index.ts';
import type { KubeObject } from './api.ts';

/**
 * Selector labels: label values cannot hold a digest (":" and over 63
 * characters), so labels carry what selects and annotations carry the
 * whole metadata, under the same keys as the Docker driver's labels.
 */
export const SELECT = {
  app: LABELS.app,
  environment: LABELS.environment,
  release: LABELS.release,
  digest: LABELS.digest,
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** The port name the readiness probe and every Service point at. */
export const PORT_NAME = 'http';
/** The port every Service of anew listens on inside the cluster. */
export const SERVICE_PORT = 80;

export function releaseLabels(
  meta: Pick<ReleaseMeta, 'app' | 'environment' | 'release'>,
): Record<string, string> {
  return { [SELECT.app]: meta.app, [SELECT.environment]: meta.environment, [SELECT.release]: meta.release };
}

/** The release's metadata as annotations: the labels every driver writes, but the address (a Service's name says it). */
export function annotationsOf(meta: ReleaseMeta): Record<string, string> {
  const { [LABELS.address]: _address, ...annotations } = labelsOf(meta, '');
  return annotations;
}

/** Docker's memory units (512m is 512 MiB) in Kubernetes quantities (where 512m is half a byte). */
export function memoryQuantity(docker: string): string {
  const m = /^(\d+)([bkmg]?)$/i.exec(docker.trim());
  if (!m)
    throw new UserError(
      `memory is "${docker}"`,
      'Use a size as for Docker: bytes, or a number with k, m or g',
    );
  const unit = m[2]!.toLowerCase();
  return unit === '' || unit === 'b' ? m[1]! : `${m[1]}${unit.toUpperCase()}i`;
}

export function cpuQuantity(cpus: string): string {
  if (!/^\d+(\.\d{1,3})?$/.test(cpus.trim()))
    throw new UserError(`cpus is "${cpus}"`, 'Use a number of CPUs such as 0.5 or 2');
  return cpus.trim();
}

/** Refuses a tag: the cluster must run exactly the digest anew verified and recorded. */
export function requireDigestImage(image: string): void {
  if (!/@sha(256|512):[0-9a-f]{32,}$/.test(image))
    throw new UserError(
      `image "${image}" is not pinned by digest`,
      'Deploy repository@sha256:… (the "image" output of build); a tag can move under a running release',
    );
}

export interface ReleaseObjects {
  secret: KubeObject | undefined;
  deployment: KubeObject;
  service: KubeObject;
}

/**
 * The objects of one release, all named as the target: the Deployment, a
 * Service that selects only its pods (a Gateway backend; the address status
 * reads) and, when there is env, a Secret the pods read it from, so values
 * never appear in the Deployment or in a log.
 */
export function releaseObjects(
  spec: StartSpec & { replicas: number; namespace: string; progressDeadlineSeconds: number },
): ReleaseObjects {
  requireDigestImage(spec.meta.image);
  requireServiceName(spec.name, 'the release');
  const labels = {
    ...releaseLabels(spec.meta),
    [SELECT.digest]: shortDigest(spec.meta.digest),
    [SELECT.managedBy]: 'anew',
  };
  const metadata = {
    name: spec.name,
    namespace: spec.namespace,
    labels,
    annotations: annotationsOf(spec.meta),
  };
  const hasEnv = Object.keys(spec.env).length > 0;
  const limits: Record<string, string> = {};
  if (spec.memory) limits['memory'] = memoryQuantity(spec.memory);
  if (spec.cpus) limits['cpu'] = cpuQuantity(spec.cpus);
  const container: KubeObject = {
    name: 'app',
    image: spec.meta.image,
    ports: [{ name: PORT_NAME, containerPort: spec.port, protocol: 'TCP' }],
    env: [{ name: 'PORT', value: String(spec.port) }],
    readinessProbe: {
      httpGet: { path: spec.meta.healthPath, port: PORT_NAME },
      periodSeconds: 2,
      failureThreshold: 3,
    },
  };
  if (hasEnv) container['envFrom'] = [{ secretRef: { name: spec.name } }];
  if (Object.keys(limits).length > 0) container['resources'] = { limits, requests: limits };
  return {
    secret: hasEnv
      ? { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', stringData: { ...spec.env } }
      : undefined,
    deployment: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata,
      spec: {
        replicas: spec.replicas,
        progressDeadlineSeconds: spec.progressDeadlineSeconds,
        selector: { matchLabels: releaseLabels(spec.meta) },
        template: {
          metadata: { labels, annotations: annotationsOf(spec.meta) },
          spec: { containers: [container] },
        },
      },
    },
    service: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata,
      spec: {
        type: 'ClusterIP',
        selector: releaseLabels(spec.meta),
        ports: [{ name: PORT_NAME, port: SERVICE_PORT, targetPort: PORT_NAME, protocol: 'TCP' }],
      },
    },
  };
}

/** Services are named by DNS-1035 labels: checked here so a bad name fails before anything is written. */
export function requireServiceName(name: string, what: string): void {
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
    throw new UserError(
      `${what} would be named "${name}", which Kubernetes refuses (lower-case letters, digits and -, at most 63 characters)`,
      'Use a shorter, lower-case app or environment name',
    );
}
