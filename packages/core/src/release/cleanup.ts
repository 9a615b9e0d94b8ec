import type { Target } from '../targets/index.ts';
import type { Infra } from './infra.ts';
import { type Release, readEnvironment } from './model.ts';

export interface PruneRequest {
  app: string;
  environment: string;
  /** Releases kept warm besides those that take traffic. */
  keep: number;
  /** Never retired, e.g. the release a deploy just started and a flip will take next. */
  protect?: string[];
  dryRun?: boolean;
}

/**
 * Retires what is no longer needed: releases beyond the newest `keep` warm
 * ones, and any target that is not running (it cannot serve a rollback).
 * A release that takes traffic is never touched.
 */
export async function prune(infra: Infra, req: PruneRequest): Promise<Target[]> {
  const env = await readEnvironment(infra, req.app, req.environment);
  const serving = new Set((env.route?.backends ?? []).map((b) => b.release));
  const protect = new Set(req.protect ?? []);
  const removed: Target[] = [];
  let warm = 0;
  for (const r of env.releases) {
    if (serving.has(r.release) || protect.has(r.release)) continue;
    const allRunning = r.targets.every((t) => t.state === 'running');
    if (allRunning && warm < req.keep) {
      warm++;
      continue;
    }
    removed.push(...r.targets);
  }
  await removeTargets(infra, removed, req.dryRun);
  return removed;
}

/**
 * Retires a whole environment (a pull-request preview when it closes): the
 * route first, so no request is sent to a target being removed, then every
 * target.
 */
export async function retireEnvironment(
  infra: Infra,
  req: { app: string; environment: string; dryRun?: boolean },
): Promise<{ removed: Target[]; route: boolean }> {
  const env = await readEnvironment(infra, req.app, req.environment);
  if (env.route) {
    infra.log.info(`${req.dryRun ? 'Would remove' : 'Removing'} the route of ${req.app}/${req.environment}`);
    if (!req.dryRun) await infra.router.remove(env.route);
  }
  const removed = env.releases.flatMap((r: Release) => r.targets);
  await removeTargets(infra, removed, req.dryRun);
  if (!req.dryRun) await Promise.all(infra.engines.map((e) => e.retire?.(req.app, req.environment)));
  return { removed, route: env.route !== undefined };
}

async function removeTargets(infra: Infra, targets: Target[], dryRun = false): Promise<void> {
  for (const t of targets)
    infra.log.info(
      `${dryRun ? 'Would remove' : 'Removing'} ${t.name}${t.instance ? ` (${t.instance})` : ''} on ${t.engine} (release ${t.meta.release}, ${t.state})`,
    );
  if (dryRun) return;
  await Promise.all(targets.map((t) => infra.engines.find((e) => e.id === t.engine)?.remove(t)));
}
