import type { Duplex } from 'node:stream';
import type { Digest } from '../ref/index.ts';

/**
 * A target is one running copy of a release (a container, a Deployment). It
 * carries its own metadata, so the infrastructure is the only state: the
 * labels below are what `status`, `flip`, `rollback` and `cleanup` read back.
 */
export interface ReleaseMeta {
  app: string;
  environment: string;
  /** repository@sha256:… */
  image: string;
  digest: Digest;
  /** Release id, shared by the targets of one release on every host. */
  release: string;
  /** ISO 8601 time the release was started. */
  created: string;
  /** HTTP path that answers 2xx when a target of this release is healthy. */
  healthPath: string;
  commit?: string;
  runUrl?: string;
  /** What the provenance gate said at deploy, in a few words (e.g. `verified: <signer>`); absent when none ran. */
  provenance?: string;
}

export interface Target {
  /** Unique name on its engine; the same on every host of one release. */
  name: string;
  /** The engine (DOCKER_HOST) it runs on; "" is the local default. */
  engine: string;
  /** host:port the router dials. */
  address: string;
  /** The target's own URL, for health checks and smoke tests before traffic. */
  url: string;
  meta: ReleaseMeta;
  /** e.g. running, exited, created */
  state: string;
  /** The image the container actually runs (an image id). */
  imageId: string;
  /**
   * Which copy of the release this is, when one engine runs several (a
   * Swarm task: its slot and node), for messages; absent for a container.
   */
  instance?: string;
}

/** Credentials for one pull, when the engine's own login is not the one to use. */
export interface RegistryAuth {
  registry: string;
  username: string;
  password: string;
}

/** What a driver needs to start one target of a release. */
export interface StartSpec {
  meta: ReleaseMeta;
  name: string;
  /** Port the app listens on inside its network (named networks). */
  port: number;
  env: Record<string, string>;
  memory?: string;
  cpus?: string;
  /** swarm: tasks of the release (default 1) and their placement constraints. */
  replicas?: number;
  constraints?: string[];
  /** Credentials the engine hands on to the nodes that pull (a swarm); a Docker engine pulled already. */
  registryAuth?: RegistryAuth;
  /** How long a driver may wait for its targets to run (a swarm scheduling its tasks). */
  timeoutMs?: number;
}

/** One engine (host) a driver starts targets on. */
export interface TargetEngine {
  /** How the user named it (docker-host line), for messages. */
  readonly id: string;
  /** Fetches the image by digest; a no-op when the engine has it. */
  pull(image: string, auth?: RegistryAuth): Promise<void>;
  /**
   * Starts the release's targets on this engine: one container on a Docker
   * engine, one target per running task on a swarm. They run, but need not
   * be healthy yet.
   */
  start(spec: StartSpec): Promise<Target[]>;
  list(filter: { app?: string; environment?: string }): Promise<Target[]>;
  remove(target: Target): Promise<void>;
  /** The last lines the target printed, for failure messages. */
  logs(target: Target, lines: number): Promise<string>;
  /** True when the target runs the image its labels name (no drift). */
  runsLabelledImage(target: Target): Promise<boolean>;
  /**
   * For an orchestrator that checks health itself (a readiness probe) where
   * anew cannot reach the target: waits up to `timeoutMs` (0: looks once)
   * until it is ready, and returns why not. Absent: anew probes `url`.
   */
  waitReady?(target: Target, timeoutMs: number): Promise<string | undefined>;
  /** Removes what the engine made for an environment besides its targets (a preview's namespace), once they are gone. */
  retire?(app: string, environment: string): Promise<void>;
  /**
   * How a check reaches a target's address (its url) when the runner cannot:
   * a connection made by the engine's server. Absent: directly from here.
   */
  readonly connector?: (host: string, port: number) => Promise<Duplex>;
  /** Ends what the engine holds open (an ssh connection). */
  close(): Promise<void>;
}

/** Label keys on every target; reverse-DNS so they never clash with the user's. */
export const LABELS = {
  app: 'dev.anew.app',
  environment: 'dev.anew.environment',
  image: 'dev.anew.image',
  digest: 'dev.anew.digest',
  release: 'dev.anew.release',
  created: 'dev.anew.created',
  healthPath: 'dev.anew.health-path',
  commit: 'dev.anew.commit',
  runUrl: 'dev.anew.run-url',
  provenance: 'dev.anew.provenance',
  address: 'dev.anew.address',
  /** "host", or the Docker network the router reaches the target on. */
  network: 'dev.anew.network',
  /** swarm: the release's block of host ports (see targets/swarm/ports.ts). */
  portBlock: 'dev.anew.port-block',
  /** swarm: the tasks the release was deployed with, so a service scaled down shows as drift. */
  replicas: 'dev.anew.replicas',
} as const;

export function labelsOf(meta: ReleaseMeta, address: string): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.app]: meta.app,
    [LABELS.environment]: meta.environment,
    [LABELS.image]: meta.image,
    [LABELS.digest]: meta.digest,
    [LABELS.release]: meta.release,
    [LABELS.created]: meta.created,
    [LABELS.healthPath]: meta.healthPath,
    [LABELS.address]: address,
  };
  if (meta.commit) labels[LABELS.commit] = meta.commit;
  if (meta.runUrl) labels[LABELS.runUrl] = meta.runUrl;
  if (meta.provenance) labels[LABELS.provenance] = meta.provenance;
  return labels;
}

/** Reads labels back; undefined when the container is not an anew target. */
export function metaFromLabels(labels: Record<string, string> | null | undefined): ReleaseMeta | undefined {
  const l = labels ?? {};
  const app = l[LABELS.app];
  const environment = l[LABELS.environment];
  const release = l[LABELS.release];
  const digest = l[LABELS.digest];
  if (!app || !environment || !release || !digest) return undefined;
  return {
    app,
    environment,
    release,
    digest: digest as Digest,
    image: l[LABELS.image] ?? '',
    created: l[LABELS.created] ?? '',
    healthPath: l[LABELS.healthPath] ?? '/',
    commit: l[LABELS.commit] || undefined,
    runUrl: l[LABELS.runUrl] || undefined,
    provenance: l[LABELS.provenance] || undefined,
  };
}

/** Groups targets by release id, newest release first. */
export function byRelease(targets: readonly Target[]): Map<string, Target[]> {
  const sorted = [...targets].sort(
    (a, b) => b.meta.created.localeCompare(a.meta.created) || b.meta.release.localeCompare(a.meta.release),
  );
  const out = new Map<string, Target[]>();
  for (const t of sorted) out.set(t.meta.release, [...(out.get(t.meta.release) ?? []), t]);
  return out;
}
