import { primary } from '../routers/index.ts';
import type { Target } from '../targets/index.ts';
import type { Infra } from './infra.ts';
import { type Environment, type Release, readEnvironment } from './model.ts';

export interface PruneRequest {
  app: string;
  environment: string;
  /** Releases kept warm besides those that take traffic. */
  keep: number;
  /** Never retired, e.g. the release a deploy just started and a flip will take next. */
  protect?: string[];
  /**
   * A release created less than this long ago (ms) is never retired: it may be
   * a concurrent deploy still waiting for its health check. Its health timeout.
   */
  youngerThan?: number;
  now?: Date;
  dryRun?: boolean;
}

/**
 * Retires what is no longer needed: releases beyond the `keep` warm ones,
 * and any target that is not running (it cannot serve a rollback). Never
 * retired: a release that takes traffic, the one rollback would return to,
 * a protected one, and one younger than `youngerThan`.
 */
export async function prune(infra: Infra, req: PruneRequest): Promise<Target[]> {
  const env = await readEnvironment(infra, req.app, req.environment);
  const removed = retention(env, req).remove.flatMap((r) => r.targets);
  await removeTargets(infra, removed, req.dryRun);
  return removed;
}

/**
 * Which releases stay and which go. The keep slots go to the route's history
 * first (the releases rollback returns to, in that order), then to the newest
 * others: a release that was deployed and never flipped (a cancelled or
 * failed job) must not push the rollback target out.
 */
export function retention(
  env: Environment,
  req: Pick<PruneRequest, 'keep' | 'protect' | 'youngerThan' | 'now'>,
): { keep: Release[]; remove: Release[] } {
  const route = env.route;
  const serving = new Set((route?.backends ?? []).map((b) => b.release));
  const history = route?.history ?? [];
  // Mid-canary the first backend is where rollback goes; otherwise the newest of the history.
  const rollbackTo =
    (route && route.backends.length > 1 ? route.backends[0]?.release : undefined) ?? history[0];
  const protect = new Set(req.protect ?? []);
  const now = (req.now ?? new Date()).getTime();
  const young = (r: Release) => {
    const t = Date.parse(r.created);
    return req.youngerThan !== undefined && Number.isFinite(t) && now - t < req.youngerThan;
  };
  const rank = (r: Release) => {
    const i = history.indexOf(r.release);
    return i < 0 ? history.length : i;
  };
  // A stable sort: history order first, then newest first as listed.
  const candidates = env.releases
    .map((r, i) => ({ r, i }))
    .sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i)
    .map((x) => x.r);
  const keep: Release[] = [];
  const remove: Release[] = [];
  let warm = 0;
  for (const r of candidates) {
    if (serving.has(r.release) || protect.has(r.release) || young(r)) {
      keep.push(r);
      continue;
    }
    const allRunning = r.targets.every((t) => t.state === 'running');
    // The rollback target fills a keep slot, and stays even when keep is 0.
    if (r.release === rollbackTo || (allRunning && warm < req.keep)) {
      warm++;
      keep.push(r);
      continue;
    }
    remove.push(r);
  }
  return { keep, remove };
}

/**
 * Retires a whole environment (a pull-request preview when it closes): the
 * route first, so no request is sent to a target being removed, then every
 * target.
 */
export async function retireEnvironment(
  infra: Infra,
  req: { app: string; environment: string; dryRun?: boolean },
): Promise<{
  removed: Target[];
  route: boolean /** The release the route served until now. */;
  live?: string;
}> {
  const env = await readEnvironment(infra, req.app, req.environment);
  if (env.route) {
    infra.log.info(`${req.dryRun ? 'Would remove' : 'Removing'} the route of ${req.app}/${req.environment}`);
    if (!req.dryRun) await infra.router.remove(env.route);
  }
  const removed = env.releases.flatMap((r: Release) => r.targets);
  await removeTargets(infra, removed, req.dryRun);
  if (!req.dryRun) await Promise.all(infra.engines.map((e) => e.retire?.(req.app, req.environment)));
  return {
    removed,
    route: env.route !== undefined,
    live: env.route ? primary(env.route)?.release : undefined,
  };
}

/**
 * Removes a release that a cancelled job started and never flipped: its
 * targets, unless the route sends it traffic or remembers it for rollback
 * (a flip got to it after all). Nothing else is touched.
 */
export async function removeUnflipped(
  infra: Infra,
  req: { app: string; environment: string; release: string },
): Promise<{ removed: Target[]; reason?: string }> {
  const env = await readEnvironment(infra, req.app, req.environment);
  const route = env.route;
  if (route?.backends.some((b) => b.release === req.release))
    return { removed: [], reason: `${req.release} takes traffic` };
  if (route?.history.includes(req.release))
    return { removed: [], reason: `${req.release} is kept for rollback` };
  const removed = env.releases.find((r) => r.release === req.release)?.targets ?? [];
  await removeTargets(infra, removed);
  return { removed };
}

async function removeTargets(infra: Infra, targets: Target[], dryRun = false): Promise<void> {
  for (const t of targets)
    infra.log.info(
      `${dryRun ? 'Would remove' : 'Removing'} ${t.name}${t.instance ? ` (${t.instance})` : ''} on ${t.engine} (release ${t.meta.release}, ${t.state})`,
    );
  if (dryRun) return;
  await Promise.all(targets.map((t) => infra.engines.find((e) => e.id === t.engine)?.remove(t)));
}
