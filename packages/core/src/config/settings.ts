import { UserError } from '../errors/index.ts';
import {
  checkCpus,
  checkDockerName,
  checkHost,
  checkHttpPath,
  checkListen,
  checkMemory,
  checkText,
  checkUrl,
  shown,
} from './values.ts';

/**
 * An environment's settings, each declared once: its anew.yml key (also the
 * action input and the CLI option), its parser, default, description, JSON
 * Schema and the actions that take it. schema/anew.schema.json and every
 * action.yml are generated from these declarations (`npm run gen`), and a
 * test fails when the committed files differ.
 */

/** A value as it comes from YAML (already schema-checked) or a string from an input or option. */
type Raw = unknown;

/** The actions whose inputs carry environment settings (ship takes those of deploy and flip). */
export type SettingAction = 'deploy' | 'flip' | 'rollback' | 'cleanup';

export interface SettingSpec<T> {
  /** One or two sentences, as action.yml and the schema show them. */
  description: string;
  default: T;
  /** The default as a user writes it, named in descriptions; none when there is no default value. */
  shownDefault?: string;
  parse(v: Raw, what: string): T;
  /** The JSON Schema of the anew.yml value (the description is added from above). */
  schema: Record<string, unknown>;
  /** One value per line (as an input). */
  multiline?: boolean;
  /** The actions that take it as an input: they read it, and their action.yml declares it. */
  actions: readonly SettingAction[];
  /**
   * A secret: masked, read by the CLI from stdin, a file or this variable,
   * and never a key of anew.yml (a committed file is no place for it).
   */
  secret?: { env: string };
}

function fail(what: string, value: Raw, hint: string): never {
  throw new UserError(`${what} is ${shown(value)}`, hint);
}

function text(v: Raw, what: string): string {
  return checkText(String(v), what).trim();
}

export function parseDuration(v: Raw, what: string): number {
  if (typeof v === 'number' && v >= 0) return Math.round(v * 1000);
  const m = typeof v === 'string' ? /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h)?$/.exec(v.trim()) : null;
  if (!m) return fail(what, v, 'Use a duration such as 500ms, 30s, 5m or a number of seconds');
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!);
}

function list(v: Raw, what: string, commas: boolean): string[] {
  const items = Array.isArray(v) ? v.map(String) : String(v).split(commas ? /[\r\n,]+/ : /\r?\n/);
  return items.map((s) => checkText(s, what).trim()).filter((s) => s !== '' && !s.startsWith('#'));
}

function int(v: Raw, what: string, min: number, max = 1_000_000): number {
  const n = typeof v === 'number' ? v : /^\s*\d{1,9}\s*$/.test(String(v)) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) fail(what, v, `Use a whole number from ${min} to ${max}`);
  return n;
}

function oneOf<T extends string>(v: Raw, what: string, allowed: readonly T[]): T {
  if (!allowed.includes(String(v).trim() as T)) fail(what, v, `Use one of: ${allowed.join(', ')}`);
  return String(v).trim() as T;
}

function bool(v: Raw, what: string): boolean {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(s)) return true;
  if (['false', 'no', 'off', '0'].includes(s)) return false;
  return fail(what, v, 'Use true or false');
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,255}$/;

function env(v: Raw, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, val] of Object.entries(v)) {
      if (!ENV_KEY.test(k)) fail(what, k, 'Use a KEY of letters, digits and _');
      out[k] = checkText(String(val), `${what}: ${k}`);
    }
    return out;
  }
  for (const line of list(v, what, false)) {
    const eq = line.indexOf('=');
    const key = line.slice(0, eq).trim();
    if (eq <= 0 || !ENV_KEY.test(key))
      fail(what, line, 'Give one KEY=VALUE per line, with a KEY of letters, digits and _');
    out[key] = line.slice(eq + 1);
  }
  return out;
}

const duration = { $ref: '#/definitions/duration' };
const stringOrList = { $ref: '#/definitions/stringOrList' };
const DOCKER_HOST_SCHEMES = ['unix', 'tcp', 'ssh', 'npipe'] as const;

/** Each router's admin address when router-url is not set. */
export const ROUTER_URLS = {
  caddy: 'http://127.0.0.1:2019',
  haproxy: 'unix:///run/haproxy-master.sock',
} as const;
export const DEFAULT_HAPROXY_CONFIG = '/etc/haproxy/anew.d';

/** router-url: http(s) without credentials, a unix socket, or ssh:// with the admin address as its path. */
function checkRouterUrl(value: string, what: string): string {
  const v = checkUrl(value, what, ['http', 'https', 'unix', 'ssh']);
  const u = new URL(v);
  const path = decodeURIComponent(u.pathname);
  const hint =
    'Use http(s)://host:port, unix:///run/haproxy-master.sock or ssh://user@host/<admin address on that host>';
  if ((u.protocol === 'http:' || u.protocol === 'https:') && (path !== '/' || u.search))
    fail(what, v, 'Name only the admin API: http://host:port');
  if (u.protocol === 'unix:' && (u.host || !path.startsWith('/') || path === '/')) fail(what, v, hint);
  if (u.protocol === 'ssh:' && path.replace(/^\//, '') === '') fail(what, v, hint);
  return v;
}

/** A PEM block of the given kind (e.g. "PRIVATE KEY" also takes "EC PRIVATE KEY"). */
function pem(v: Raw, what: string, kind: string): string {
  const s = String(v).trim();
  if (!new RegExp(`^-----BEGIN [A-Z ]*${kind}-----[\\s\\S]+-----END [A-Z ]*${kind}-----$`).test(s))
    throw new UserError(
      `${what} is not a PEM ${kind.toLowerCase()}`,
      `Give the PEM text, from -----BEGIN to -----END`,
    );
  return s;
}

function setting<T>(spec: SettingSpec<T>): SettingSpec<T> {
  return spec;
}

/** Every setting. The order is the order of the inputs in action.yml and of the keys in the schema. */
export const SETTINGS = {
  driver: setting<'docker' | 'swarm' | 'kubernetes'>({
    description:
      'Driver that runs each release as a target: docker (a container on each docker-host), swarm (a service on the swarm whose manager is docker-host) or kubernetes (a Deployment).',
    default: 'docker',
    shownDefault: 'docker',
    parse: (v, w) => oneOf(v, w, ['docker', 'swarm', 'kubernetes'] as const),
    schema: { enum: ['docker', 'swarm', 'kubernetes'] },
    actions: ['deploy'],
  }),
  'docker-host': setting<string[]>({
    description:
      'Docker engine(s), one per line (unix://, tcp://, ssh://user@host). Default: DOCKER_HOST or the local engine. With several, every host runs the release.',
    default: [],
    parse: (v, w) => list(v, w, false).map((h) => checkUrl(h, w, DOCKER_HOST_SCHEMES)),
    schema: stringOrList,
    multiline: true,
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  replicas: setting<number>({
    description:
      'Copies of each release: swarm tasks (1 to 9: each takes the port <block><slot>, with a one-digit slot) or Kubernetes pods.',
    default: 1,
    shownDefault: '1',
    parse: (v, w) => int(v, w, 1, 1000),
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
    actions: ['deploy'],
  }),
  constraints: setting<string[]>({
    description: 'swarm: placement constraints, one per line (e.g. node.role==worker).',
    default: [],
    parse: (v, w) => list(v, w, false),
    schema: stringOrList,
    multiline: true,
    actions: ['deploy'],
  }),
  network: setting<string>({
    description:
      'Docker network for targets. "host" gives each target a free host port, passed to the app as PORT; a named network lets the router reach targets by name.',
    default: 'host',
    shownDefault: 'host',
    parse: (v, w) => checkDockerName(String(v), w),
    schema: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$', maxLength: 128 },
    actions: ['deploy', 'cleanup'],
  }),
  port: setting<number>({
    description:
      'Port the app listens on inside its container (named networks). With network host, the app gets a free port in PORT.',
    default: 8080,
    shownDefault: '8080',
    parse: (v, w) => int(v, w, 1, 65535),
    schema: { type: 'integer', minimum: 1, maximum: 65535 },
    actions: ['deploy'],
  }),
  env: setting<Record<string, string>>({
    description: 'Environment variables for the app, KEY=VALUE per line.',
    default: {},
    parse: env,
    schema: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' },
      additionalProperties: { type: ['string', 'number', 'boolean'] },
    },
    multiline: true,
    actions: ['deploy'],
  }),
  'health-path': setting<string>({
    description: 'HTTP path that answers 2xx when the target is healthy.',
    default: '/',
    shownDefault: '/',
    parse: (v, w) => checkHttpPath(String(v), w),
    schema: { type: 'string', pattern: '^/', maxLength: 1024 },
    actions: ['deploy'],
  }),
  'health-timeout': setting<number>({
    description: 'How long the target may take to become healthy (e.g. 60s, 2m).',
    default: 60_000,
    shownDefault: '60s',
    parse: parseDuration,
    schema: duration,
    actions: ['deploy'],
  }),
  keep: setting<number>({
    description: 'How many previous targets to keep warm for rollback, besides the live one.',
    default: 2,
    shownDefault: '2',
    parse: (v, w) => int(v, w, 0, 1000),
    schema: { type: 'integer', minimum: 0, maximum: 1000 },
    actions: ['deploy', 'cleanup'],
  }),
  memory: setting<string | undefined>({
    description: 'Memory limit for each target (e.g. 256m).',
    default: undefined,
    parse: (v, w) => checkMemory(String(v), w),
    schema: { type: 'string', pattern: '^[1-9]\\d{0,15}[bkmgBKMG]?$' },
    actions: ['deploy'],
  }),
  cpus: setting<string | undefined>({
    description: 'CPU limit for each target (e.g. 0.5).',
    default: undefined,
    parse: (v, w) => checkCpus(String(v), w),
    schema: { type: ['string', 'number'], pattern: '^\\d{1,4}(\\.\\d{1,3})?$', exclusiveMinimum: 0 },
    actions: ['deploy'],
  }),
  'require-provenance': setting<boolean>({
    description:
      'Refuse to deploy an image without verified provenance (also on when any policy input is set).',
    default: false,
    shownDefault: 'false',
    parse: bool,
    schema: { type: 'boolean' },
    actions: ['deploy'],
  }),
  router: setting<'caddy' | 'haproxy' | 'kubernetes-service' | 'gateway-api'>({
    description:
      'Router driver that moves traffic: caddy (automatic HTTPS; each change reloads it), haproxy (traffic moves through its runtime API, no connection dropped; see docs/routers.md), or on Kubernetes kubernetes-service (blue-green) or gateway-api (canary too).',
    default: 'caddy',
    shownDefault: 'caddy',
    parse: (v, w) => oneOf(v, w, ['caddy', 'haproxy', 'kubernetes-service', 'gateway-api'] as const),
    schema: { enum: ['caddy', 'haproxy', 'kubernetes-service', 'gateway-api'] },
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  'router-url': setting<string | undefined>({
    description:
      "Where the router's admin API is: http(s)://host:port (Caddy), unix:///path (HAProxy's master socket), or ssh://user@host[:port]/<admin address on that host> (127.0.0.1:2019, /run/haproxy-master.sock), reached as docker-host's ssh is. Deploy reads it to know which releases take traffic.",
    default: undefined,
    shownDefault: `${ROUTER_URLS.caddy} (caddy), ${ROUTER_URLS.haproxy} (haproxy)`,
    parse: (v, w) => checkRouterUrl(String(v), w),
    schema: {
      type: 'string',
      pattern: '^(https?://[^@/]+/?|unix:///.+|ssh://[^/:@]+(@[^/]+)?/.+)$',
      maxLength: 2048,
    },
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  'router-config': setting<string | undefined>({
    description:
      "HAProxy: the folder of configuration files anew owns on the router's server, loaded with -f.",
    default: undefined,
    shownDefault: `${DEFAULT_HAPROXY_CONFIG} (haproxy)`,
    parse: (v, w) => {
      const p = text(v, w);
      if (!/^\/[^\s]*$/.test(p) || p.split('/').includes('..'))
        fail(w, v, 'Use an absolute path on the server, e.g. /etc/haproxy/anew.d');
      return p.replace(/\/+$/, '') || '/';
    },
    schema: { type: 'string', pattern: '^/\\S*$', maxLength: 1024 },
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  'router-ca': setting<string | undefined>({
    description: "PEM of the CA that signed an https:// router-url's certificate (else the system's CAs).",
    default: undefined,
    parse: (v, w) => pem(v, w, 'CERTIFICATE'),
    schema: { type: 'string', pattern: '-----BEGIN ', maxLength: 65536 },
    multiline: true,
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  'router-cert': setting<string | undefined>({
    description:
      "PEM client certificate for an https:// router-url that asks for one (Caddy's remote admin, mutual TLS); with router-key.",
    default: undefined,
    parse: (v, w) => pem(v, w, 'CERTIFICATE'),
    schema: { type: 'string', pattern: '-----BEGIN ', maxLength: 65536 },
    multiline: true,
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  'router-key': setting<string | undefined>({
    description: 'PEM private key of router-cert; masked in logs (an input or a secret, never anew.yml).',
    default: undefined,
    parse: (v, w) => pem(v, w, 'PRIVATE KEY'),
    schema: {},
    multiline: true,
    secret: { env: 'ANEW_ROUTER_KEY' },
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  hosts: setting<string[]>({
    description:
      'Host names the environment serves, one per line or comma-separated; "{env}" is replaced by the environment name. Empty: any host.',
    default: [],
    // {env} stands for an environment name, itself a valid label: checked as one.
    parse: (v, w) => list(v, w, true).map((h) => checkHost(h.replaceAll('{env}', 'env'), w) && h),
    schema: stringOrList,
    multiline: true,
    actions: ['flip', 'rollback', 'cleanup'],
  }),
  listen: setting<string>({
    description: 'Address the router serves the environment on.',
    default: ':8080',
    shownDefault: ':8080',
    parse: (v, w) => checkListen(String(v), w),
    schema: { type: 'string', pattern: '^[^\\s]*:\\d{1,5}$', maxLength: 300 },
    actions: ['flip', 'rollback', 'cleanup'],
  }),
  url: setting<string | undefined>({
    description:
      'Public address of the environment (the url output of flip, the GitHub deployment and the preview comment), for when a load balancer sits in front of the router; {env} is replaced by the environment name. Default: https://<first host> when the router serves TLS for it, else http://<first host>[:<listen port>].',
    default: undefined,
    // {env} stands for an environment name: checked as one, kept for the environment to fill in.
    parse: (v, w) => checkUrl(String(v).replaceAll('{env}', 'env'), w, ['http', 'https']) && String(v).trim(),
    schema: { type: 'string', pattern: '^https?://[^@/\\s]+(/\\S*)?$', maxLength: 2048 },
    actions: ['flip', 'rollback'],
  }),
  strategy: setting<'blue-green' | 'canary'>({
    description: 'blue-green moves all traffic at once; canary moves it in steps.',
    default: 'blue-green',
    shownDefault: 'blue-green',
    parse: (v, w) => oneOf(v, w, ['blue-green', 'canary'] as const),
    schema: { enum: ['blue-green', 'canary'] },
    actions: ['flip'],
  }),
  steps: setting<number[]>({
    description: 'Canary: percentages of traffic per step, comma-separated.',
    default: [10, 50, 100],
    shownDefault: '10,50,100',
    parse: (v, w) => {
      const steps = (Array.isArray(v) ? v : text(v, w).split(',')).map((s) => int(s, w, 1, 100));
      if (steps.length === 0 || steps.some((s, i) => i > 0 && s <= steps[i - 1]!))
        fail(w, v, 'Give rising percentages, e.g. 10,50,100');
      if (steps[steps.length - 1] !== 100) steps.push(100);
      return steps;
    },
    schema: {
      oneOf: [
        { type: 'string', pattern: '^\\s*\\d+(\\s*,\\s*\\d+)*\\s*$' },
        { type: 'array', items: { type: 'integer', minimum: 1, maximum: 100 }, minItems: 1 },
      ],
    },
    actions: ['flip'],
  }),
  interval: setting<number>({
    description: 'Canary: time to watch each step before the next.',
    default: 30_000,
    shownDefault: '30s',
    parse: parseDuration,
    schema: duration,
    actions: ['flip'],
  }),
  'max-error-rate': setting<number>({
    description:
      'Canary: largest share of failed requests (5xx or no answer) through the router tolerated at a step (0.01 = 1%).',
    default: 0.01,
    shownDefault: '0.01',
    parse: (v, w) => {
      const s = text(v, w);
      const n = typeof v === 'number' ? v : s.endsWith('%') ? Number(s.slice(0, -1)) / 100 : Number(s);
      if (s === '' || !Number.isFinite(n) || n < 0 || n > 1)
        fail(w, v, 'Use a share from 0 to 1, e.g. 0.01 or 1%');
      return n;
    },
    schema: { type: 'number', minimum: 0, maximum: 1 },
    actions: ['flip'],
  }),
  kubeconfig: setting<string>({
    description:
      'Kubernetes: a kubeconfig path (its content belongs in a secret, not in anew.yml). Default: KUBECONFIG, ~/.kube/config, or in-cluster credentials.',
    default: '',
    parse: (v, w) => text(v, w),
    schema: { type: 'string', maxLength: 4096 },
    actions: [],
  }),
  'kube-context': setting<string>({
    description: 'Kubernetes: the kubeconfig context to use (default: its current one).',
    default: '',
    parse: (v, w) => text(v, w),
    schema: { type: 'string', maxLength: 253 },
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  namespace: setting<string>({
    description:
      'Kubernetes: the namespace releases and routes live in. With {env} (e.g. web-{env}), each environment gets a namespace of its own that anew creates on deploy and removes on cleanup with all.',
    default: 'default',
    shownDefault: 'default',
    // {env} gives each environment (a pull request's preview) a namespace anew creates and removes.
    parse: (v, w) =>
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text(v, w).replaceAll('{env}', 'x')) && text(v, w).length <= 63
        ? text(v, w)
        : fail(
            w,
            v,
            'Use a Kubernetes namespace name (lower-case letters, digits and -), optionally with {env}',
          ),
    schema: { type: 'string', pattern: '^([a-z0-9]|\\{env\\})([-a-z0-9]|\\{env\\})*$', maxLength: 63 },
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
  gateway: setting<string>({
    description: 'gateway-api: the Gateway the HTTPRoute attaches to, as namespace/name.',
    default: '',
    parse: (v, w) =>
      /^([a-z0-9-]+\/)?[a-z0-9.-]+$/.test(text(v, w)) || text(v, w) === ''
        ? text(v, w)
        : fail(w, v, 'Name the Gateway as namespace/name, e.g. infra/public'),
    schema: { type: 'string', pattern: '^([a-z0-9-]+/)?[a-z0-9.-]+$' },
    actions: ['deploy', 'flip', 'rollback', 'cleanup'],
  }),
};

export type SettingKey = keyof typeof SETTINGS;

export type Settings = { [K in SettingKey]: (typeof SETTINGS)[K]['default'] };

/** Every setting's key, in declaration order. */
export function settingKeys(): SettingKey[] {
  return Object.keys(SETTINGS) as SettingKey[];
}

/** The defaults when neither anew.yml nor an input says otherwise. */
export const DEFAULT_SETTINGS: Settings = Object.fromEntries(
  settingKeys().map((k) => [k, SETTINGS[k].default]),
) as Settings;

/** Keys that anew.yml once had under another name: a clear error instead of "not a known key". */
export const RENAMED_SETTINGS: Readonly<Record<string, SettingKey>> = { target: 'driver' };

/** The settings an action takes as inputs, in declaration order. */
export function settingsOf(action: SettingAction): SettingKey[] {
  return settingKeys().filter((k) => SETTINGS[k].actions.includes(action));
}

export function parseSetting<K extends SettingKey>(key: K, value: Raw, what: string): Settings[K] {
  return SETTINGS[key].parse(value, what) as Settings[K];
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
