import type { SettingKey, Settings } from '../config/index.ts';
import { errorMessage, UserError } from '../errors/index.ts';
import { probe, sampleErrorRate } from '../health/index.ts';
import {
  type Backend,
  primary,
  RouteConflictError,
  type RouteSpec,
  type RouteState,
} from '../routers/index.ts';
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
  /** The image digest and commit of the release that serves now. */
  digest: string;
  commit?: string;
  /** What the provenance gate said when the release was deployed; absent when none ran. */
  provenance?: string;
  /** What served before (the previous primary), kept warm; "" on the first flip. */
  previousTarget: string;
  previousRelease: string;
  /** The image digest of that previous release; "" when unknown (its targets are gone) or on the first flip. */
  previousDigest: string;
  /** Where the environment is served (the live route's, unless this was its first flip). */
  listen: string;
  hosts: string[];
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
  /**
   * The settings given explicitly (an input, an option or anew.yml); the
   * others are defaults, and the live route's listen address and hosts
   * take their place. Absent: none was given explicitly.
   */
  given?: ReadonlySet<SettingKey>;
  dryRun: boolean;
}

/**
 * Where an environment is served: the live route's listen address and hosts
 * unless a value was given explicitly, so flip, rollback and cleanup need
 * only the environment. An explicit value that differs from the live route
 * is refused: moving a live environment is a retire and a new first flip.
 */
export function settingsFollowingRoute(
  settings: Settings,
  route: RouteState | undefined,
  given: ReadonlySet<SettingKey> = new Set(),
): Settings {
  if (!route) return settings;
  const name = `${route.app}/${route.environment}`;
  if (given.has('listen') && settings.listen !== route.listen)
    throw new UserError(
      `the route of ${name} is served on ${route.listen}, not ${settings.listen}`,
      `Pass listen ${route.listen} (or none), or retire the environment (cleanup with all) to serve it elsewhere`,
    );
  const sorted = (h: readonly string[]) =>
    [...h]
      .map((x) => x.toLowerCase())
      .sort()
      .join(', ');
  if (given.has('hosts') && sorted(settings.hosts) !== sorted(route.hosts))
    throw new UserError(
      `the route of ${name} is served for ${route.hosts.length ? `hosts ${sorted(route.hosts)}` : 'any host'}, not ${settings.hosts.length ? `hosts ${sorted(settings.hosts)}` : 'any host'}`,
      `Pass hosts ${route.hosts.join(',') || '(none)'}, or retire the environment (cleanup with all) to serve it for other hosts`,
    );
  return { ...settings, listen: route.listen, hosts: [...route.hosts] };
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
  const settings = settingsFollowingRoute(req.settings, env.route, req.given);
  return switchTo(infra, env, next, settings, req.dryRun, settings.strategy === 'canary');
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
    digest: next.digest,
    commit: next.commit,
    provenance: next.targets[0]?.meta.provenance,
    previousTarget: prev?.target ?? '',
    previousRelease: prev?.release ?? '',
    previousDigest: (prev && env.releases.find((r) => r.release === prev.release)?.digest) || '',
    listen: settings.listen,
    hosts: settings.hosts,
    dryRun,
    changed,
  });
  const target = backendOf(next, 100);
  const steps = canary && prev && prev.release !== next.release ? settings.steps : [100];
  log.info(
    `Route ${env.app}/${env.environment} on ${settings.listen}${settings.hosts.length ? ` for ${settings.hosts.join(', ')}` : ''}: ${describeRoute(current)} → ${next.release} (${next.target}) ${steps.length > 1 ? `in steps of ${steps.join('/')}%` : 'at once'}`,
  );
  for (const t of next.targets) log.info(`  ${t.engine}${t.instance ? ` ${t.instance}` : ''}: ${t.address}`);
  // Callers pass settings that follow the route; one that did not still never moves it.
  settingsFollowingRoute(settings, current, new Set(['listen', 'hosts']));
  // The same release on other addresses (a swarm task moved to another node) is routed anew.
  const sameDials = (current?.backends[0]?.dials ?? []).join(' ') === target.dials.join(' ');
  if (current && current.backends.length === 1 && prev?.release === next.release && sameDials) {
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
  /** What this flip has written so far, for a truthful message when another writer wins. */
  let wrote: string | undefined;
  const write = async (backends: Backend[], extra: Partial<RouteSpec> = {}) => {
    try {
      state = await router.write({ ...spec(backends), ...extra }, state);
      wrote = describeRoute(state);
    } catch (e) {
      if (e instanceof RouteConflictError) throw await afterConflict(infra, env, e, wrote);
      throw e;
    }
  };
  for (const percent of steps) {
    if (percent === 100) {
      await write([target], { history });
      log.info(
        `${next.release} takes all traffic; ${prev ? `${prev.target} stays warm for rollback` : 'first release of this environment'}`,
      );
      break;
    }
    const backends = [{ ...backendOf(findPrev(env, prev!), 100 - percent) }, backendOf(next, percent)];
    await write(backends);
    const failure = await log.group(`Canary ${percent}%: watch for ${settings.interval / 1000} s`, () =>
      watchStep(infra, next, settings),
    );
    if (failure) {
      const back = await router.write(spec([backendOf(findPrev(env, prev!), 100)]), state).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (back === undefined)
        throw new UserError(
          `canary step ${percent}% failed: ${failure}; all traffic is back on ${prev!.release} (${prev!.target})`,
        );
      throw new UserError(
        `canary step ${percent}% failed: ${failure}; putting all traffic back on ${prev!.release} failed too (${errorMessage(back)}); ${await nowServing(infra, env)}`,
        'Run rollback, or status to see what serves',
      );
    }
  }
  return result(true);
}

/** A lost compare-and-swap, told with what the route says now (read again, not assumed). */
async function afterConflict(
  infra: Infra,
  env: Environment,
  e: RouteConflictError,
  wrote: string | undefined,
): Promise<UserError> {
  const mine = wrote
    ? `this flip had set ${wrote} before`
    : e.applied
      ? 'this flip wrote the route, and it was replaced'
      : 'this flip changed nothing';
  return new RouteConflictError(
    `${e.message}; ${mine}; ${await nowServing(infra, env)}`,
    'Retry if the change is still needed',
    e.applied,
  );
}

async function nowServing(infra: Infra, env: Environment): Promise<string> {
  try {
    const route = await infra.router.read(env.app, env.environment);
    return `the route now serves ${describeRoute(route)}`;
  } catch (e) {
    return `what the route serves now could not be read (${errorMessage(e)}): run status`;
  }
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
  if (url) {
    const host = settings.hosts.find((h) => !h.includes('*'));
    const sample = await sampleErrorRate(url, { durationMs: settings.interval, host, max: 5000, gapMs: 20 });
    infra.log.info(
      `${sample.failed} of ${sample.requests} requests through the router failed (${(sample.rate * 100).toFixed(2)}%)`,
    );
    if (sample.rate > settings['max-error-rate'])
      return `${(sample.rate * 100).toFixed(2)}% of requests through the router failed (${sample.failed}/${sample.requests}, e.g. ${sample.example}), above max-error-rate ${(settings['max-error-rate'] * 100).toFixed(2)}%`;
  } else {
    // A router inside a cluster has no address on this machine: the step watches the new release's readiness.
    infra.log.info('The router is not reachable from here: watching the readiness of the new release');
    await new Promise((ok) => setTimeout(ok, settings.interval));
  }
  for (const t of next.targets) {
    const engine = infra.engines.find((e) => e.id === t.engine);
    if (engine?.waitReady) {
      const why = await engine.waitReady(t, 0);
      if (why !== undefined) return `${t.name} in ${t.engine} is no longer ready (${why})`;
      continue;
    }
    const res = await probe(`${t.url}${t.meta.healthPath}`, { connect: engine?.connector });
    if (!res.ok) return `${t.name} on ${t.engine} became unhealthy (${res.detail})`;
  }
  return undefined;
}
