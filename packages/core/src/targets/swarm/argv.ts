import { LABELS } from '../index.ts';

/**
 * The docker CLI's argv for each Swarm operation, as pure functions: tests
 * check them in tables, and the engine only runs what these return.
 */

export interface ServiceCreateArgs {
  name: string;
  /** repository@sha256:…, never a tag: every node runs exactly this. */
  image: string;
  replicas: number;
  /** Service and container labels alike. */
  labels: Record<string, string>;
  /** Passed by value in argv: only what anew sets itself (PORT), never the app's. */
  inlineEnv: Record<string, string>;
  /** The app's variables (see envFileText): the CLI reads the file, so values stay out of argv and logs. */
  envFile?: string;
  constraints: string[];
  memory?: string;
  cpus?: string;
  /** Sends the client's registry login to the nodes that pull. */
  withRegistryAuth: boolean;
}

export function serviceCreateArgs(a: ServiceCreateArgs): string[] {
  // --detach: anew waits for the tasks itself, with the deploy's timeout and the tasks' errors.
  // --no-resolve-image: the digest is already exact; resolving would ask the registry from the manager.
  // spread over nodes: replicas land on different nodes when there are enough of them.
  const args = ['service', 'create', '--detach', '--quiet', '--name', a.name, '--network', 'host'];
  args.push('--replicas', String(a.replicas), '--placement-pref', 'spread=node.id', '--no-resolve-image');
  for (const [k, v] of Object.entries(a.labels).sort(([x], [y]) => x.localeCompare(y)))
    args.push('--label', `${k}=${v}`, '--container-label', `${k}=${v}`);
  for (const [k, v] of Object.entries(a.inlineEnv)) args.push('--env', `${k}=${v}`);
  if (a.envFile) args.push('--env-file', a.envFile);
  for (const c of a.constraints) args.push('--constraint', c);
  if (a.memory) args.push('--limit-memory', a.memory);
  if (a.cpus) args.push('--limit-cpu', a.cpus);
  if (a.withRegistryAuth) args.push('--with-registry-auth');
  args.push(a.image);
  return args;
}

/** Every anew service of an app (and environment); without an app, every anew service. */
export function serviceListArgs(filter: { app?: string; environment?: string }): string[] {
  const app = filter.app ? `label=${LABELS.app}=${filter.app}` : `label=${LABELS.app}`;
  const args = ['service', 'ls', '--quiet', '--filter', app];
  if (filter.environment) args.push('--filter', `label=${LABELS.environment}=${filter.environment}`);
  return args;
}

export function serviceInspectArgs(ids: readonly string[]): string[] {
  return ['service', 'inspect', ...ids];
}

/** Every task of the services, current and past (a replaced task stays listed with its error). */
export function taskIdsArgs(services: readonly string[]): string[] {
  return ['service', 'ps', '--quiet', '--no-trunc', ...services];
}

export function taskInspectArgs(ids: readonly string[]): string[] {
  return ['inspect', '--type', 'task', ...ids];
}

export function nodeListArgs(): string[] {
  return ['node', 'ls', '--quiet'];
}

export function nodeInspectArgs(ids: readonly string[]): string[] {
  return ['node', 'inspect', ...ids];
}

export function serviceRemoveArgs(name: string): string[] {
  return ['service', 'rm', name];
}

export function serviceLogsArgs(name: string, lines: number): string[] {
  return ['service', 'logs', '--tail', String(lines), '--no-task-ids', name];
}

/** A node label that names the address the router dials for the node's tasks, when the node's own is not it. */
export const NODE_ADDRESS_LABEL = 'dev.anew.address';
