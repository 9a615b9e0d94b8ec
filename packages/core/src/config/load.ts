import fs from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parse, YAMLParseError } from 'yaml';
import schema from '../../../../schema/anew.schema.json' with { type: 'json' };
import { UserError } from '../errors/index.ts';
import {
  DEFAULT_SETTINGS,
  parseSetting,
  RENAMED_SETTINGS,
  type SettingKey,
  type Settings,
} from './settings.ts';

/** anew.yml as written (checked against schema/anew.schema.json). */
export interface AnewConfig {
  app?: string;
  defaults?: Record<string, unknown>;
  environments?: Record<string, Record<string, unknown>>;
}

let validate: ((v: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** Loads and checks anew.yml. A missing file is an empty config unless `required`. */
export function loadConfig(file: string, opts: { required?: boolean } = {}): AnewConfig {
  if (!fs.existsSync(file)) {
    if (opts.required) throw new UserError(`config file ${file} does not exist`, 'Check the "config" path');
    return {};
  }
  let doc: unknown;
  try {
    doc = parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if (e instanceof YAMLParseError) throw new UserError(`${file} is not valid YAML: ${e.message}`);
    throw e;
  }
  return checkConfig(doc ?? {}, file);
}

export function checkConfig(doc: unknown, file = 'anew.yml'): AnewConfig {
  checkRenamedKeys(doc, file);
  validate ??= new Ajv({ allErrors: true, strict: false }).compile(schema);
  if (!validate(doc)) {
    const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if');
    const first = errors[0] ?? validate.errors?.[0];
    throw new UserError(
      `${file}: ${errors.map(describe).join('; ')}`,
      first ? `Fix ${pointer(first)} (the JSON Schema is schema/anew.schema.json)` : undefined,
    );
  }
  return doc as AnewConfig;
}

/** A key that was renamed is named with its new name, rather than refused as unknown. */
function checkRenamedKeys(doc: unknown, file: string): void {
  if (typeof doc !== 'object' || doc === null) return;
  const d = doc as AnewConfig;
  const blocks: [string, unknown][] = [['defaults', d.defaults]];
  for (const [k, v] of Object.entries(d.environments ?? {})) blocks.push([`environments.${k}`, v]);
  for (const [where, block] of blocks) {
    if (typeof block !== 'object' || block === null) continue;
    for (const [old, now] of Object.entries(RENAMED_SETTINGS))
      if (old in block)
        throw new UserError(
          `${file}: ${where}.${old} is now called "${now}"`,
          `Rename the key to ${now} (e.g. ${now}: docker); "target" now only names a release's target`,
        );
  }
}

/** The offending key as a dotted path, e.g. environments.production.keep. */
function pointer(e: ErrorObject): string {
  let path = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'additionalProperties') path = [...path, String(e.params['additionalProperty'])];
  if (e.keyword === 'propertyNames') path = [...path, String(e.params['propertyName'])];
  return path.length ? path.join('.') : '(top level)';
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `${pointer(e)} is not a known key`;
  if (e.keyword === 'enum')
    return `${pointer(e)} ${e.message}: ${(e.params['allowedValues'] as string[]).join(', ')}`;
  return `${pointer(e)} ${e.message}`;
}

/** The settings block that applies to an environment: its own, else the first template that matches. */
export function environmentBlock(
  config: AnewConfig,
  environment: string,
): { key: string; block: Record<string, unknown> } | undefined {
  const envs = config.environments ?? {};
  if (envs[environment]) return { key: environment, block: envs[environment] };
  for (const [key, block] of Object.entries(envs)) {
    if (!key.includes('*')) continue;
    const re = new RegExp(`^${key.split('*').map(escapeRe).join('[a-z0-9-]*')}$`);
    if (re.test(environment)) return { key, block };
  }
  return undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Built-in defaults, then anew.yml's `defaults`, then the environment's block
 * (or template), then the overrides (inputs, options). `{env}` in hosts
 * and url becomes the environment's name.
 */
export function resolveSettings(
  config: AnewConfig,
  environment: string,
  overrides: Partial<Settings>,
  file = 'anew.yml',
): Settings {
  const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  const layers: [string, Record<string, unknown> | undefined][] = [['defaults', config.defaults]];
  const env = environmentBlock(config, environment);
  if (env) layers.push([`environments.${env.key}`, env.block]);
  for (const [where, block] of layers)
    for (const [k, v] of Object.entries(block ?? {}))
      out[k] = parseSetting(k as SettingKey, v, `${file}: ${where}.${k}`);
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) out[k] = v;
  const settings = out as unknown as Settings;
  settings.hosts = settings.hosts.map((h) => h.replaceAll('{env}', environment));
  if (settings.url) settings.url = settings.url.replaceAll('{env}', environment);
  checkAcrossSettings(settings);
  return settings;
}

/** At most this many Swarm tasks per release: each takes the port <block><slot>, and the slot is one digit. */
export const SWARM_MAX_REPLICAS = 9;

/** What one setting cannot say alone: a value that fits one driver and not another. */
function checkAcrossSettings(settings: Settings): void {
  if (settings.driver === 'swarm' && settings.replicas > SWARM_MAX_REPLICAS)
    throw new UserError(
      `replicas is ${settings.replicas}, but a Swarm release holds 1 to ${SWARM_MAX_REPLICAS} tasks (each takes the port <block><slot>, with a one-digit slot)`,
      `Use replicas from 1 to ${SWARM_MAX_REPLICAS} with driver swarm`,
    );
}

export interface EnvironmentSettingsRequest {
  /** Path of anew.yml; a missing file is an error only when it is not the default path. */
  configFile: string;
  environment: string;
  /** The app name given explicitly (input, option). */
  app: string | undefined;
  /** owner/name of the repository, the app name's last fallback. */
  repository: string | undefined;
  overrides: Partial<Settings>;
}

/**
 * What every action and command starts from: the app's name, the
 * environment's settings, and which of them were given (by an override or
 * anew.yml) rather than defaulted: where an environment already has a
 * route, its listen address and hosts replace only defaulted values.
 */
export function environmentSettings(req: EnvironmentSettingsRequest): {
  app: string;
  settings: Settings;
  given: ReadonlySet<SettingKey>;
} {
  const file = req.configFile || 'anew.yml';
  const config = loadConfig(file, { required: file !== 'anew.yml' });
  const fromRepo = req.repository
    ?.split('/')
    .pop()
    ?.toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const app = req.app ?? config.app ?? fromRepo;
  if (!app)
    throw new UserError('no app name', `Set "app" in ${file} or pass the app input (letters, digits and -)`);
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(app))
    throw new UserError(`app name "${app}" is not valid`, 'Use lower-case letters, digits and "-"');
  const given = new Set<SettingKey>();
  const block = environmentBlock(config, req.environment)?.block;
  for (const layer of [config.defaults, block, req.overrides])
    for (const [k, v] of Object.entries(layer ?? {})) if (v !== undefined) given.add(k as SettingKey);
  return { app, settings: resolveSettings(config, req.environment, req.overrides, file), given };
}
