import { LABELS } from '../index.ts';

/**
 * The docker CLI's argv for each operation, as pure functions: tests check
 * them in tables, and the engine only runs what these return.
 */

export interface RunArgs {
  name: string;
  image: string;
  labels: Record<string, string>;
  network: string;
  /** Environment passed by value in argv (PORT and the like: never secrets). */
  inlineEnv: Record<string, string>;
  /** Names whose values the docker CLI takes from its own environment, so they stay out of argv and logs. */
  passEnv: string[];
  memory?: string;
  cpus?: string;
}

export function runArgs(a: RunArgs): string[] {
  const args = ['run', '--detach', '--name', a.name, '--restart', 'unless-stopped', '--network', a.network];
  for (const [k, v] of Object.entries(a.labels).sort(([x], [y]) => x.localeCompare(y)))
    args.push('--label', `${k}=${v}`);
  for (const [k, v] of Object.entries(a.inlineEnv)) args.push('--env', `${k}=${v}`);
  for (const k of a.passEnv) args.push('--env', k);
  if (a.memory) args.push('--memory', a.memory);
  if (a.cpus) args.push('--cpus', a.cpus);
  args.push(a.image);
  return args;
}

export function pullArgs(image: string): string[] {
  return ['pull', '--quiet', image];
}

/** Whether the engine already has the image: `docker image inspect` exits 0. */
export function imageExistsArgs(image: string): string[] {
  return ['image', 'inspect', '--format', '{{.Id}}', image];
}

/** Every anew target of an app (and environment); without an app, every anew target on the engine. */
export function listArgs(filter: { app?: string; environment?: string }): string[] {
  const app = filter.app ? `label=${LABELS.app}=${filter.app}` : `label=${LABELS.app}`;
  const args = ['ps', '--all', '--no-trunc', '--format', '{{.ID}}', '--filter', app];
  if (filter.environment) args.push('--filter', `label=${LABELS.environment}=${filter.environment}`);
  return args;
}

export function inspectArgs(ids: readonly string[]): string[] {
  return ['container', 'inspect', ...ids];
}

export function imageDigestsArgs(imageId: string): string[] {
  return ['image', 'inspect', '--format', '{{json .RepoDigests}}', imageId];
}

export function removeArgs(name: string): string[] {
  return ['rm', '--force', '--volumes', name];
}

/** Without --force: an image another container still runs stays. */
export function removeImageArgs(imageId: string): string[] {
  return ['image', 'rm', imageId];
}

export function logsArgs(name: string, lines: number): string[] {
  return ['logs', '--tail', String(lines), name];
}

/**
 * Variables the docker CLI itself reads: an app variable of that name goes
 * inline, or it would change how the CLI runs (PATH, the engine, ssh).
 */
export function isCliVariable(name: string): boolean {
  return /^(PATH|HOME|USER|TMPDIR|DOCKER_.*|SSH_.*|XDG_.*)$/.test(name);
}
