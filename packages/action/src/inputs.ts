import * as core from '@actions/core';
import { UserError } from '@anew/core/errors';
import {
  type Digest,
  parseDigest,
  parsePinnedReference,
  parseRepository,
  type Reference,
} from '@anew/core/ref';

/**
 * Shared input parsers. Every action reads its inputs in one place
 * (`readInputs` in its main.ts) with keys equal to the action.yml names.
 * The runner fills action.yml defaults; an empty string means "not given".
 */

export function str(name: string): string {
  return core.getInput(name).trim();
}

export function optional(name: string): string | undefined {
  const v = str(name);
  return v === '' ? undefined : v;
}

export function required(name: string): string {
  const v = str(name);
  if (!v) throw new UserError(`input "${name}" is required`, `Set "${name}" in the step's "with:"`);
  return v;
}

export function bool(name: string, fallback: boolean): boolean {
  const v = str(name).toLowerCase();
  if (v === '') return fallback;
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw new UserError(`input "${name}" is "${str(name)}", not a boolean`, 'Use true or false');
}

/** One value per line (and, where `commas` is set, also split on commas); blank lines and # comments dropped. */
export function list(name: string, opts: { commas?: boolean } = {}): string[] {
  const lines = core.getInput(name).split(/\r?\n/);
  const items = opts.commas ? lines.flatMap((l) => l.split(',')) : lines;
  return items.map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
}

/** KEY=VALUE per line. */
export function keyValues(name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of list(name)) {
    const eq = line.indexOf('=');
    if (eq <= 0)
      throw new UserError(`input "${name}" has "${line}", not KEY=VALUE`, 'Give one KEY=VALUE per line');
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key))
      throw new UserError(`input "${name}" has the key "${key}", which is not a valid name`);
    out[key] = line.slice(eq + 1);
  }
  return out;
}

export function pinnedImage(name: string): Reference & { digest: Digest } {
  return parsePinnedReference(required(name), `input "${name}"`);
}

export function repository(name: string): Reference {
  return parseRepository(required(name), `input "${name}"`);
}

export function digest(name: string): Digest | undefined {
  const v = optional(name);
  return v === undefined ? undefined : parseDigest(v, `input "${name}"`);
}

let mask: (secret: string) => void = (s) => core.setSecret(s);

/**
 * Where secrets read from inputs are registered: the runner's log masking in
 * an action; the CLI passes its own logger (the runner's ::add-mask:: command
 * would print the secret on a terminal).
 */
export function maskSecretsWith(fn: (secret: string) => void): void {
  mask = fn;
}

/** An input that carries a secret: masked before anything else can print it. */
export function secret(name: string): string | undefined {
  const v = core.getInput(name);
  if (v) {
    mask(v);
    // Multi-line secrets (PEM keys) are masked line by line too, as the runner matches per line.
    for (const line of v.split(/\r?\n/)) if (line.trim().length >= 4) mask(line.trim());
  }
  return v.trim() === '' ? undefined : v;
}

/**
 * A user name and password given as a pair of inputs (registry-username and
 * registry-password): both or neither (then the docker config is used).
 */
export function credential(
  userInput: string,
  passwordInput: string,
): { username: string; password: string } | undefined {
  const username = optional(userInput);
  const password = secret(passwordInput);
  if ((username === undefined) !== (password === undefined))
    throw new UserError(
      `only one of "${userInput}" and "${passwordInput}" is set`,
      'Give both, or neither to use the docker config (docker/login-action)',
    );
  return username && password ? { username, password } : undefined;
}

/** Environment names become parts of container names, labels and routes. */
export function environmentName(name: string): string {
  const v = required(name);
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(v))
    throw new UserError(
      `input "${name}" is "${v}", not a valid environment name`,
      'Use lower-case letters, digits and "-" (at most 63 characters), e.g. production or pr-42',
    );
  return v;
}

/**
 * Runs `read` with some inputs seen as other values, then puts them back:
 * how the root action reads each step's inputs as that step would see them
 * (e.g. the Dockerfile stage under "target", or an image digest not known yet).
 */
export function withInputs<T>(values: Record<string, string>, read: () => T): T {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(values)) {
    const key = `INPUT_${k.toUpperCase()}`;
    saved[key] = process.env[key];
    process.env[key] = v;
  }
  try {
    return read();
  } finally {
    for (const [key, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[key];
      else process.env[key] = v;
    }
  }
}
