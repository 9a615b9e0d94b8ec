import { UserError } from '../../errors/index.ts';
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
  /** Environment passed by value in argv: only what anew sets itself (PORT), never the app's. */
  inlineEnv: Record<string, string>;
  /** A file of the app's variables (see envFileText): the docker CLI reads it locally, so values stay out of argv and logs, over ssh:// too. */
  envFile?: string;
  memory?: string;
  cpus?: string;
}

export function runArgs(a: RunArgs): string[] {
  const args = ['run', '--detach', '--name', a.name, '--restart', 'unless-stopped', '--network', a.network];
  for (const [k, v] of Object.entries(a.labels).sort(([x], [y]) => x.localeCompare(y)))
    args.push('--label', `${k}=${v}`);
  for (const [k, v] of Object.entries(a.inlineEnv)) args.push('--env', `${k}=${v}`);
  if (a.envFile) args.push('--env-file', a.envFile);
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
 * The app's variables in the docker CLI's --env-file format: one NAME=value
 * a line, the value taken verbatim to the end of the line. A value cannot
 * hold a line break there, so one that does is refused before anything runs.
 */
export function envFileText(env: Record<string, string>): string {
  let text = '';
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k))
      throw new UserError(`env has the name "${k}", which is not a valid variable name`);
    if (/[\r\n\0]/.test(v))
      throw new UserError(
        `env ${k} holds a line break or NUL, which a container variable cannot carry through the docker CLI`,
        'Give the value on one line (e.g. base64-encode it)',
      );
    text += `${k}=${v}\n`;
  }
  return text;
}
