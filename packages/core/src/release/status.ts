import { errorMessage } from '../errors/index.ts';
import { primary } from '../routers/index.ts';
import type { Infra } from './infra.ts';
import { type Environment, listTargets, releasesOf } from './model.ts';

export interface EnvironmentStatus extends Environment {
  /** The release taking most traffic, if any. */
  live: string | undefined;
  /** What does not match: targets that stopped or run another image, routes to targets that are gone. */
  drift: string[];
}

/**
 * Every environment of an app (or of every app) as the infrastructure says:
 * targets from the engines' labels, traffic from the router.
 */
export async function status(
  infra: Infra,
  filter: { app?: string; environment?: string } = {},
): Promise<EnvironmentStatus[]> {
  // Without the router, the targets still tell most of the story: say so and go on.
  let routerUp = true;
  const [targets, routes] = await Promise.all([
    listTargets(infra, filter),
    infra.router.list(filter.app).catch((e: unknown) => {
      routerUp = false;
      infra.log.warning(`traffic is unknown: ${errorMessage(e)}`);
      return [];
    }),
  ]);
  const keys = new Set<string>();
  for (const t of targets) keys.add(`${t.meta.app}\t${t.meta.environment}`);
  for (const r of routes) keys.add(`${r.app}\t${r.environment}`);
  const out: EnvironmentStatus[] = [];
  for (const key of [...keys].sort()) {
    const [app, environment] = key.split('\t') as [string, string];
    if (filter.environment && environment !== filter.environment) continue;
    const route = routerUp ? await infra.router.read(app, environment) : undefined;
    const mine = targets.filter((t) => t.meta.app === app && t.meta.environment === environment);
    const drift: string[] = [];
    for (const t of mine) {
      const which = `${t.name}${t.instance ? ` (${t.instance})` : ''}`;
      if (t.state !== 'running') drift.push(`target ${which} on ${t.engine} is ${t.state}`);
      else if (!(await infra.engines.find((e) => e.id === t.engine)!.runsLabelledImage(t)))
        drift.push(
          `target ${which} on ${t.engine} runs image ${t.imageId.slice(0, 19)}…, not ${t.meta.digest} as its label says`,
        );
    }
    if (route) {
      const running = new Set(mine.filter((t) => t.state === 'running').map((t) => t.address));
      for (const d of await infra.router.dials(app, environment))
        if (!running.has(d))
          drift.push(`route sends traffic to ${d}, where no target of ${app}/${environment} runs`);
    }
    out.push({
      app,
      environment,
      route,
      releases: releasesOf(mine, route),
      live: route ? primary(route)?.release : undefined,
      drift,
    });
  }
  return out;
}

/** Text for a terminal or a log. */
export function formatStatus(envs: readonly EnvironmentStatus[]): string {
  if (envs.length === 0) return 'No anew environments found.';
  const lines: string[] = [];
  for (const e of envs) {
    const where = e.route
      ? `${e.route.listen}${e.route.hosts.length ? ` (${e.route.hosts.join(', ')})` : ''}`
      : 'no route';
    lines.push(`${e.app}/${e.environment} — ${where}`);
    for (const r of e.releases) {
      const role = r.traffic > 0 ? `LIVE ${r.traffic}%` : 'warm';
      lines.push(
        `  ${role.padEnd(9)} ${r.release}  ${r.target}  ${r.digest}  ${r.targets.map((t) => `${t.engine}=${t.state}`).join(' ')}`,
      );
    }
    if (e.route?.history.length) lines.push(`  rollback to: ${e.route.history[0]}`);
    for (const d of e.drift) lines.push(`  DRIFT     ${d}`);
  }
  return lines.join('\n');
}
