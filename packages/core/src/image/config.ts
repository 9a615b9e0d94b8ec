import type { Digest } from '../ref/index.ts';
import type { Platform } from './platform.ts';

/** What the user sets on top of the base image's configuration. */
export interface ImageSettings {
  entrypoint?: string[];
  cmd?: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  labels: Record<string, string>;
}

// biome-ignore lint/suspicious/noExplicitAny: image configs are open JSON documents
type Json = any;

/** RFC 3339 without fractions, as docker and buildkit write it. */
export function epochToRfc3339(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The base's environment with ours applied: a key we set replaces the base's value in place. */
function mergeEnv(base: string[] | undefined, ours: Record<string, string>): string[] | undefined {
  const out = new Map<string, string>();
  for (const kv of base ?? []) {
    const eq = kv.indexOf('=');
    out.set(eq < 0 ? kv : kv.slice(0, eq), kv);
  }
  for (const [k, v] of Object.entries(ours)) out.set(k, `${k}=${v}`);
  return out.size > 0 ? [...out.values()] : undefined;
}

/**
 * The config of one platform's image: the base's configuration (if any) with
 * the settings applied as a Dockerfile would (an entrypoint without a command
 * clears the base's command), our layer appended, and `created` set to the
 * source-date-epoch. Keys are written in a fixed order, so the bytes depend
 * only on the inputs.
 */
export function buildConfig(opts: {
  base: Json | undefined;
  platform: Platform;
  settings: ImageSettings;
  diffId: Digest;
  epoch: number;
}): Json {
  const { base, platform, settings, diffId, epoch } = opts;
  const created = epochToRfc3339(epoch);
  // Docker-only fields of a base's runtime config (Healthcheck, OnBuild, Shell…) are kept: runtimes read them.
  const runtime: Json = { ...(base?.config ?? {}) };
  const env = mergeEnv(runtime.Env, settings.env);
  if (env) runtime.Env = env;
  if (settings.entrypoint) {
    runtime.Entrypoint = settings.entrypoint;
    if (!settings.cmd) delete runtime.Cmd;
  }
  if (settings.cmd) runtime.Cmd = settings.cmd;
  if (settings.workdir) runtime.WorkingDir = settings.workdir;
  if (settings.user) runtime.User = settings.user;
  const labels = { ...(runtime.Labels ?? {}), ...settings.labels };
  if (Object.keys(labels).length > 0) runtime.Labels = labels;

  const history: Json[] | undefined =
    base === undefined ? [] : Array.isArray(base.history) ? [...base.history] : undefined;
  // A history must have one non-empty entry per layer; a base without one gets none from us either.
  history?.push({ created, created_by: 'anew build: files' });

  const config: Json = {
    created,
    architecture: platform.architecture,
    os: platform.os,
  };
  if (platform.variant) config.variant = platform.variant;
  if (base?.['os.version']) config['os.version'] = base['os.version'];
  if (base?.['os.features']) config['os.features'] = base['os.features'];
  config.config = runtime;
  config.rootfs = { type: 'layers', diff_ids: [...(base?.rootfs?.diff_ids ?? []), diffId] };
  if (history) config.history = history;
  return config;
}
