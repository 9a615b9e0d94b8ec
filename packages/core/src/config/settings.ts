import { UserError } from '../errors/index.ts';

/**
 * An environment's settings. The same keys (kebab-case) are action inputs,
 * CLI options and anew.yml keys; one parser per key turns any of them into
 * the typed value, so the three can never disagree.
 */
export interface Settings {
  target: 'docker' | 'swarm';
  'docker-host': string[];
  /** swarm: tasks per release (each takes a port of the release's block, so at most SWARM_MAX_REPLICAS). */
  replicas: number;
  /** swarm: placement constraints, one per line (docker service create --constraint). */
  constraints: string[];
  network: string;
  port: number;
  env: Record<string, string>;
  'health-path': string;
  /** milliseconds */
  'health-timeout': number;
  keep: number;
  memory: string | undefined;
  cpus: string | undefined;
  'require-provenance': boolean;
  router: 'caddy';
  'router-url': string;
  hosts: string[];
  listen: string;
  strategy: 'blue-green' | 'canary';
  steps: number[];
  /** milliseconds */
  interval: number;
  'max-error-rate': number;
}

export type SettingKey = keyof Settings;

/** The defaults when neither anew.yml nor an input says otherwise (action.yml descriptions name them). */
export const DEFAULT_SETTINGS: Settings = {
  target: 'docker',
  'docker-host': [],
  replicas: 1,
  constraints: [],
  network: 'host',
  port: 8080,
  env: {},
  'health-path': '/',
  'health-timeout': 60_000,
  keep: 2,
  memory: undefined,
  cpus: undefined,
  'require-provenance': false,
  router: 'caddy',
  'router-url': 'http://127.0.0.1:2019',
  hosts: [],
  listen: ':8080',
  strategy: 'blue-green',
  steps: [10, 50, 100],
  interval: 30_000,
  'max-error-rate': 0.01,
};

/** A value as it comes from YAML (already schema-checked) or a string from an input or option. */
type Raw = unknown;

function fail(what: string, value: Raw, hint: string): never {
  throw new UserError(`${what} is ${JSON.stringify(value)}`, hint);
}

export function parseDuration(v: Raw, what: string): number {
  if (typeof v === 'number' && v >= 0) return Math.round(v * 1000);
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim()) : null;
  if (!m) return fail(what, v, 'Use a duration such as 500ms, 30s, 5m or a number of seconds');
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!);
}

function list(v: Raw, commas: boolean): string[] {
  const items = Array.isArray(v) ? v.map(String) : String(v).split(commas ? /[\n,]/ : /\r?\n/);
  return items.map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
}

function int(v: Raw, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(String(v)) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) fail(what, v, `Use a whole number from ${min} to ${max}`);
  return n;
}

function oneOf<T extends string>(v: Raw, what: string, allowed: readonly T[]): T {
  if (!allowed.includes(String(v).trim() as T)) fail(what, v, `Use one of: ${allowed.join(', ')}`);
  return String(v).trim() as T;
}

function env(v: Raw, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, val] of Object.entries(v)) out[k] = String(val);
    return out;
  }
  for (const line of list(v, false)) {
    const eq = line.indexOf('=');
    const key = line.slice(0, eq).trim();
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key))
      fail(what, line, 'Give one KEY=VALUE per line, with a KEY of letters, digits and _');
    out[key] = line.slice(eq + 1);
  }
  return out;
}

const parsers: { [K in SettingKey]: (v: Raw, what: string) => Settings[K] } = {
  target: (v, w) => oneOf(v, w, ['docker', 'swarm'] as const),
  'docker-host': (v) => list(v, false),
  // 9: a release's ports are its block's prefix followed by the task slot, one digit (targets/swarm).
  replicas: (v, w) => int(v, w, 1, 9),
  constraints: (v) => list(v, false),
  network: (v) => String(v).trim(),
  port: (v, w) => int(v, w, 1, 65535),
  env,
  'health-path': (v, w) => (String(v).startsWith('/') ? String(v) : fail(w, v, 'Start the path with /')),
  'health-timeout': parseDuration,
  keep: (v, w) => int(v, w, 0),
  memory: (v) => String(v).trim(),
  cpus: (v) => String(v).trim(),
  'require-provenance': (v, w) => {
    if (typeof v === 'boolean') return v;
    const s = String(v).trim().toLowerCase();
    if (['true', 'yes', 'on', '1'].includes(s)) return true;
    if (['false', 'no', 'off', '0'].includes(s)) return false;
    return fail(w, v, 'Use true or false');
  },
  router: (v, w) => oneOf(v, w, ['caddy'] as const),
  'router-url': (v, w) =>
    /^https?:\/\/[^/]/.test(String(v)) ? String(v).trim() : fail(w, v, 'Use e.g. http://127.0.0.1:2019'),
  hosts: (v) => list(v, true),
  listen: (v, w) =>
    /:\d+$/.test(String(v).trim())
      ? String(v).trim()
      : fail(w, v, 'Use an address with a port, e.g. :8080 or 127.0.0.1:80'),
  strategy: (v, w) => oneOf(v, w, ['blue-green', 'canary'] as const),
  steps: (v, w) => {
    const steps = (Array.isArray(v) ? v : String(v).split(',')).map((s) => int(s, w, 1, 100));
    if (steps.length === 0 || steps.some((s, i) => i > 0 && s <= steps[i - 1]!))
      fail(w, v, 'Give rising percentages, e.g. 10,50,100');
    if (steps[steps.length - 1] !== 100) steps.push(100);
    return steps;
  },
  interval: parseDuration,
  'max-error-rate': (v, w) => {
    const s = String(v).trim();
    const n = typeof v === 'number' ? v : s.endsWith('%') ? Number(s.slice(0, -1)) / 100 : Number(s);
    if (s === '' || !Number.isFinite(n) || n < 0 || n > 1)
      fail(w, v, 'Use a share from 0 to 1, e.g. 0.01 or 1%');
    return n;
  },
};

export function parseSetting<K extends SettingKey>(key: K, value: Raw, what: string): Settings[K] {
  return parsers[key](value, what);
}

/**
 * Overrides from strings (action inputs, CLI options): every key whose value
 * is given. `what` names the source in messages, e.g. `input "keep"`.
 */
export function settingsFromStrings(
  keys: readonly SettingKey[],
  read: (key: SettingKey) => string | undefined,
  what: (key: SettingKey) => string,
): Partial<Settings> {
  const out: Partial<Record<SettingKey, unknown>> = {};
  for (const key of keys) {
    const v = read(key);
    if (v !== undefined && v.trim() !== '') out[key] = parseSetting(key, v, what(key));
  }
  return out as Partial<Settings>;
}
