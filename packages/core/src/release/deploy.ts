import type { Settings } from '../config/index.ts';
import { errorMessage, UserError } from '../errors/index.ts';
import { type RunContext, runUrl } from '../github/index.ts';
import { waitHealthy } from '../health/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { envFileText } from '../targets/docker/index.ts';
import type { RegistryAuth, ReleaseMeta, Target, TargetEngine } from '../targets/index.ts';
import { prune } from './cleanup.ts';
import { newReleaseId, targetName } from './ids.ts';
import type { Infra } from './infra.ts';

export interface DeployRequest {
  image: Reference & { digest: Digest };
  app: string;
  environment: string;
  settings: Settings;
  run: RunContext;
  dryRun: boolean;
  /** Credentials for the pull; without them each engine uses its own login. */
  registryAuth?: RegistryAuth;
  /**
   * The provenance gate, run before anything starts (the verify policy the
   * action or CLI was given); absent when no verification is asked for.
   */
  verify?: () => Promise<string | undefined>;
  /** The release id, when the caller recorded it before the deploy began (newReleaseId). */
  release?: string;
  now?: Date;
}

export interface DeployResult {
  target: string;
  /** The first target's own address, for smoke tests before traffic. */
  url: string;
  release: string;
  targets: Target[];
  dryRun: boolean;
}

/** How many times a target is started again when its port was taken under it. */
const PORT_RETRIES = 3;

/**
 * Starts a new release on every engine and waits until each target is
 * healthy, without traffic. All healthy or none kept: on any failure every
 * target of this release is removed and nothing else has changed. Then
 * older releases beyond `keep` are retired (never one that takes traffic).
 */
export async function deploy(infra: Infra, req: DeployRequest): Promise<DeployResult> {
  const { log, engines } = infra;
  const { settings } = req;
  // A value the engine cannot carry is bad input: refused before the plan or any pull.
  envFileText(settings.env);
  const release = req.release ?? newReleaseId(req.now ?? new Date());
  const name = targetName(req.app, req.environment, req.image.digest, release);
  const meta: ReleaseMeta = {
    app: req.app,
    environment: req.environment,
    image: `${req.image.name}@${req.image.digest}`,
    digest: req.image.digest,
    release,
    created: (req.now ?? new Date()).toISOString(),
    healthPath: settings['health-path'],
    commit: req.run.sha,
    runUrl: runUrl(req.run),
  };

  if (req.dryRun) {
    log.info(`Plan (dry run, nothing changes):`);
    log.info(`  release ${release}: start ${name} from ${meta.image}`);
    for (const e of engines)
      log.info(
        e.waitReady
          ? `  in ${e.id}, then wait until its rollout is complete (readiness probe GET ${meta.healthPath}) within ${settings['health-timeout'] / 1000} s`
          : `  on ${e.id} (network ${settings.network}), then GET ${meta.healthPath} until 2xx within ${settings['health-timeout'] / 1000} s`,
      );
    log.info(`  then keep ${settings.keep} previous release(s) warm and retire older ones`);
    if (req.verify) log.info('  after verifying the image against the provenance policy');
    return { target: name, url: '', release, targets: [], dryRun: true };
  }

  // ── Provenance gate: the one place a deploy verifies its image, before any side effect.
  if (req.verify) {
    // What it verified travels with the release, for the records made at flip (the preview comment).
    const said = await log.group('Verify provenance', req.verify);
    meta.provenance = said || 'verified';
  }

  await log.group(`Pull ${meta.image}`, () =>
    Promise.all(engines.map((e) => e.pull(meta.image, req.registryAuth))),
  );

  const started: Target[] = [];
  const results = await log.group(`Start ${name} on ${engines.length} host(s)`, () =>
    Promise.allSettled(
      engines.map((e) => startHealthy(e, meta, name, settings, infra, started, req.registryAuth)),
    ),
  );
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    await log.group('Remove the new targets (nothing else changed)', async () => {
      await Promise.all(started.map((t) => engines.find((e) => e.id === t.engine)!.remove(t)));
    });
    const reasons = failures.map((f) => errorMessage(f.reason)).join('\n');
    throw new UserError(`release ${release} did not become healthy, so none of it was kept:\n${reasons}`);
  }
  const targets = results.flatMap((r) => (r as PromiseFulfilledResult<Target[]>).value);
  for (const t of targets)
    log.info(`${t.name}${t.instance ? ` (${t.instance})` : ''} on ${t.engine} is healthy at ${t.url}`);

  // Retiring needs the router (to know what serves); a deploy that worked does not fail over it.
  await log.group(`Keep ${settings.keep} previous release(s) warm`, () =>
    prune(infra, {
      app: req.app,
      environment: req.environment,
      keep: settings.keep,
      protect: [release],
      youngerThan: settings['health-timeout'],
    }).catch((e) =>
      log.warning(
        `older releases were not retired (${errorMessage(e)}); anew/cleanup with the router settings retires them`,
      ),
    ),
  );
  return { target: name, url: targets[0]!.url, release, targets, dryRun: false };
}

async function startHealthy(
  engine: TargetEngine,
  meta: ReleaseMeta,
  name: string,
  settings: Settings,
  infra: Infra,
  started: Target[],
  registryAuth: RegistryAuth | undefined,
): Promise<Target[]> {
  for (let attempt = 1; ; attempt++) {
    const targets = await engine.start({
      meta,
      name,
      port: settings.port,
      env: settings.env,
      memory: settings.memory,
      cpus: settings.cpus,
      replicas: settings.replicas,
      constraints: settings.constraints,
      registryAuth,
      timeoutMs: settings['health-timeout'],
    });
    started.push(...targets);
    // An orchestrator that checks readiness itself (Kubernetes: the rollout) is asked, not probed from here.
    if (engine.waitReady) {
      infra.log.info(
        `Waiting for the rollout of ${name} in ${engine.id} (up to ${settings['health-timeout'] / 1000} s)`,
      );
      for (const t of targets) {
        const why = await engine.waitReady(t, settings['health-timeout']);
        if (why !== undefined) throw new UserError(`${name} in ${engine.id} did not become ready: ${why}`);
      }
      return targets;
    }
    const checks = await Promise.all(targets.map((t) => waitTarget(engine, t, settings, infra)));
    const failed = checks.findIndex((c) => !c.healthy);
    if (failed < 0) return targets;
    const target = targets[failed]!;
    const { exited, reason } = checks[failed]!;
    const logs = await engine.logs(target, 20);
    const where = `${name}${target.instance ? ` (${target.instance})` : ''} on ${engine.id}`;
    // With network host a port can be taken between the check and the start: try another one.
    if (exited && attempt < PORT_RETRIES && /address (already )?in use|bind/i.test(logs)) {
      infra.log.warning(`${where} could not bind ${target.address}; retrying on another port`);
      await Promise.all(targets.map((t) => engine.remove(t)));
      for (const t of targets) started.splice(started.indexOf(t), 1);
      continue;
    }
    throw new UserError(
      `${where} was not healthy within ${settings['health-timeout'] / 1000} s (GET ${meta.healthPath}: ${reason}). Its last log lines:\n${indent(logs || '(no output)')}`,
    );
  }
}

async function waitTarget(
  engine: TargetEngine,
  target: Target,
  settings: Settings,
  infra: Infra,
): Promise<{ healthy: boolean; exited: boolean; reason: string }> {
  const url = `${target.url}${target.meta.healthPath}`;
  infra.log.info(`Waiting for ${url} on ${engine.id} (up to ${settings['health-timeout'] / 1000} s)`);
  let exited = false;
  const res = await waitHealthy(url, {
    timeoutMs: settings['health-timeout'],
    // Through the engine's server when the runner cannot reach the target (an engine over ssh).
    connect: engine.connector,
    gone: async () => {
      // The same copy: same name and address (a swarm task that moved is another copy).
      const now = (await engine.list({ app: target.meta.app, environment: target.meta.environment })).find(
        (t) => t.name === target.name && t.address === target.address,
      );
      exited = now?.state !== 'running';
      return exited
        ? `the ${target.instance ? 'task' : 'container'} ${now ? now.state : 'is gone'}`
        : undefined;
    },
  });
  return { healthy: res.healthy, exited, reason: res.reason ?? '' };
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
