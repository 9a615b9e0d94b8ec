import { UserError } from '../errors/index.ts';
import { probe } from '../health/index.ts';
import type { Backend, RouteState } from '../routers/index.ts';
import { byRelease, type Target } from '../targets/index.ts';
import type { Infra } from './infra.ts';

/**
 * The release model, derived from the infrastructure alone: targets (with
 * their labels) on every engine, and the environment's route.
 */
export interface Release {
  release: string;
  /** Target name, the same on every host. */
  target: string;
  digest: string;
  image: string;
  created: string;
  commit?: string;
  runUrl?: string;
  targets: Target[];
  /** Share of the environment's traffic it takes now, in percent. */
  traffic: number;
}

export interface Environment {
  app: string;
  environment: string;
  route: RouteState | undefined;
  /** Newest first. */
  releases: Release[];
}

export async function listTargets(
  infra: Infra,
  filter: { app?: string; environment?: string },
): Promise<Target[]> {
  const lists = await Promise.all(infra.engines.map((e) => e.list(filter)));
  return lists.flat();
}

export function releasesOf(targets: readonly Target[], route: RouteState | undefined): Release[] {
  const out: Release[] = [];
  for (const [release, ts] of byRelease(targets)) {
    const m = ts[0]!.meta;
    out.push({
      release,
      target: ts[0]!.name,
      digest: m.digest,
      image: m.image,
      created: m.created,
      commit: m.commit,
      runUrl: m.runUrl,
      targets: ts,
      traffic: route?.backends.find((b) => b.release === release)?.weight ?? 0,
    });
  }
  return out;
}

export async function readEnvironment(infra: Infra, app: string, environment: string): Promise<Environment> {
  const [targets, route] = await Promise.all([
    listTargets(infra, { app, environment }),
    infra.router.read(app, environment),
  ]);
  return { app, environment, route, releases: releasesOf(targets, route) };
}

/** The release a user names: a target name, a release id, or a digest (the newest release of it). */
export function findRelease(env: Environment, ref: string): Release | undefined {
  return (
    env.releases.find(
      (r) => r.target === ref || r.release === ref || r.targets.some((t) => t.name === ref),
    ) ?? env.releases.find((r) => r.digest === ref)
  );
}

/** The backend a release makes in a route. */
export function backendOf(r: Release, weight: number): Backend {
  return { release: r.release, target: r.target, dials: r.targets.map((t) => t.address).sort(), weight };
}

/**
 * Refuses a release that is not whole and healthy now: a target on every
 * engine, each running and answering 2xx on its health path.
 */
export async function checkServable(infra: Infra, r: Release, attempts = 3): Promise<void> {
  for (const engine of infra.engines) {
    if (!r.targets.some((t) => t.engine === engine.id))
      throw new UserError(
        `release ${r.release} has no target on ${engine.id}`,
        'Deploy it again to every host',
      );
  }
  await Promise.all(
    r.targets.map(async (t) => {
      const engine = infra.engines.find((e) => e.id === t.engine);
      if (engine?.waitReady) {
        const why = await engine.waitReady(t, 0);
        if (why === undefined) return;
        throw new UserError(
          `target ${t.name} in ${t.engine} is not ready now: ${why}`,
          'Traffic was not moved; check the target with status',
        );
      }
      if (t.state !== 'running')
        throw new UserError(
          `target ${t.name}${t.instance ? ` (${t.instance})` : ''} on ${t.engine} is ${t.state}, not running`,
          'Deploy a new release',
        );
      let last = '';
      for (let i = 0; i < attempts; i++) {
        const connect = infra.engines.find((e) => e.id === t.engine)?.connector;
        const res = await probe(`${t.url}${t.meta.healthPath}`, { timeoutMs: 2000, connect });
        if (res.ok) return;
        last = res.detail;
        await new Promise((ok) => setTimeout(ok, 200 * (i + 1)));
      }
      throw new UserError(
        `target ${t.name}${t.instance ? ` (${t.instance})` : ''} on ${t.engine} is not healthy now (GET ${t.meta.healthPath}: ${last})`,
        'Traffic was not moved; check the target with status and its logs',
      );
    }),
  );
}

export function describeRoute(route: RouteState | undefined): string {
  if (!route || route.backends.length === 0) return 'no route yet';
  return route.backends.map((b) => `${b.release} (${b.target}, ${b.weight}%)`).join(' + ');
}
