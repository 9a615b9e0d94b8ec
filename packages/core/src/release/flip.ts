import type { Settings } from '../config/index.ts';
import { errorMessage, UserError } from '../errors/index.ts';
import { probe, sampleErrorRate } from '../health/index.ts';
import { type Backend, primary, type RouteSpec, type RouteState } from '../routers/index.ts';
import type { Infra } from './infra.ts';
import {
  backendOf,
  checkServable,
  describeRoute,
  type Environment,
  findRelease,
  type Release,
  readEnvironment,
} from './model.ts';

export interface SwitchResult {
  release: string;
  target: string;
  /** What served before (the previous primary), kept warm; "" on the first flip. */
  previousTarget: string;
  previousRelease: string;
  dryRun: boolean;
  changed: boolean;
}

/** At most this many releases are remembered in the route for rollback. */
const HISTORY = 10;

export interface FlipRequest {
  app: string;
  environment: string;
  /** Target name, release id or digest of the release to move traffic to. */
  to: string;
  settings: Settings;
  dryRun: boolean;
}

/**
 * Moves an environment's traffic to a release that is healthy now: all at
 * once (blue-green), or in canary steps that each watch health and the error
 * rate through the router and put everything back on a failing step.
 */
export async function flip(infra: Infra, req: FlipRequest): Promise<SwitchResult> {
  const env = await readEnvironment(infra, req.app, req.environment);
  const next = findRelease(env, req.to);
  if (!next)
    throw new UserError(
      `no target of ${req.app}/${req.environment} is named or released as "${req.to}" on ${infra.engines.map((e) => e.id).join(', ')}`,
      'Pass the "target" output of deploy, and the same docker-host',
    );
  return switchTo(infra, env, next, req.settings, req.dryRun, req.settings.strategy === 'canary');
}

/** The one way traffic moves, for flip and rollback alike. */
export async function switchTo(
  infra: Infra,
  env: Environment,
  next: Release,
  settings: Settings,
  dryRun: boolean,
  canary: boolean,
): Promise<SwitchResult> {
  const { log, router } = infra;
  const current = env.route;
  const prev = current ? primary(current) : undefined;
  const result = (changed: boolean): SwitchResult => ({
    release: next.release,
    target: next.target,
    previousTarget: prev?.target ?? '',
    previousRelease: prev?.release ?? '',
    dryRun,
    changed,
  });
  const target = backendOf(next, 100);
  const steps = canary && prev && prev.release !== next.release ? settings.steps : [100];
  log.info(
    `Route ${env.app}/${env.environment} on ${settings.listen}${settings.hosts.length ? ` for ${settings.hosts.join(', ')}` : ''}: ${describeRoute(current)} → ${next.release} (${next.target}) ${steps.length > 1 ? `in steps of ${steps.join('/')}%` : 'at once'}`,
  );
  for (const t of next.targets) log.info(`  ${t.engine}: ${t.address}`);
  if (current && current.listen !== settings.listen)
    throw new UserError(
      `the route of ${env.app}/${env.environment} is served on ${current.listen}, not ${settings.listen}`,
      `Pass listen ${current.listen}, or retire the environment (cleanup with all) to serve it elsewhere`,
    );
  if (current && current.backends.length === 1 && prev?.release === next.release) {
    log.info(`${next.release} already takes all traffic: nothing to do`);
    return result(false);
  }
  if (dryRun) {
    log.info('Dry run: nothing changed');
    return result(false);
  }
  await log.group(`Check ${next.target} is healthy now`, () => checkServable(infra, next));

  const history = [
    ...(prev && prev.release !== next.release ? [prev.release] : []),
    ...(current?.history ?? []),
  ]
    .filter((r, i, all) => r !== next.release && all.indexOf(r) === i)
    .slice(0, HISTORY);
  const spec = (backends: Backend[]): RouteSpec => ({
    app: env.app,
    environment: env.environment,
    hosts: settings.hosts,
    listen: settings.listen,
    backends,
    history: current?.history ?? [],
  });

  let state: RouteState | undefined = current;
  for (const percent of steps) {
    if (percent === 100) {
      state = await router.write({ ...spec([target]), history }, state);
      log.info(
        `${next.release} takes all traffic; ${prev ? `${prev.target} stays warm for rollback` : 'first release of this environment'}`,
      );
      break;
    }
    const backends = [{ ...backendOf(findPrev(env, prev!), 100 - percent) }, backendOf(next, percent)];
    state = await router.write(spec(backends), state);
    const failure = await log.group(`Canary ${percent}%: watch for ${settings.interval / 1000} s`, () =>
      watchStep(infra, next, settings),
    );
    if (failure) {
      await router
        .write(spec([backendOf(findPrev(env, prev!), 100)]), state)
        .catch((e) => log.error(`putting traffic back failed too: ${errorMessage(e)}`));
      throw new UserError(
        `canary step ${percent}% failed: ${failure}; all traffic is back on ${prev!.release} (${prev!.target})`,
      );
    }
  }
  return result(true);
}

function findPrev(env: Environment, prev: Backend): Release {
  const r = env.releases.find((x) => x.release === prev.release);
  if (!r)
    throw new UserError(
      `the live release ${prev.release} has no target any more`,
      'Use blue-green to move all traffic at once',
    );
  return r;
}

/** Watches one canary step through the router; returns why it failed, or undefined. */
async function watchStep(infra: Infra, next: Release, settings: Settings): Promise<string | undefined> {
  const url = infra.router.publicUrl(settings.listen);
  const host = settings.hosts.find((h) => !h.includes('*'));
  const sample = await sampleErrorRate(url, { durationMs: settings.interval, host, max: 5000, gapMs: 20 });
  infra.log.info(
    `${sample.failed} of ${sample.requests} requests through the router failed (${(sample.rate * 100).toFixed(2)}%)`,
  );
  if (sample.rate > settings['max-error-rate'])
    return `${(sample.rate * 100).toFixed(2)}% of requests through the router failed (${sample.failed}/${sample.requests}, e.g. ${sample.example}), above max-error-rate ${(settings['max-error-rate'] * 100).toFixed(2)}%`;
  for (const t of next.targets) {
    const res = await probe(`${t.url}${t.meta.healthPath}`);
    if (!res.ok) return `${t.name} on ${t.engine} became unhealthy (${res.detail})`;
  }
  return undefined;
}
