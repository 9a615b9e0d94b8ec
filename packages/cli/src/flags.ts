import fs from 'node:fs';
import { type InputSpecs, parseBool, type RawInputs } from '@anew/action';
import { UserError } from '@anew/core/errors';

/** A mistake in the command line itself: reported with exit code 2, as usage errors are. */
export class UsageError extends UserError {
  override name = 'UsageError';
}

export function isUsageError(e: unknown): e is UsageError {
  return e instanceof Error && e.name === 'UsageError';
}

export interface ParsedArgs {
  /** The inputs given, by their action.yml names: the raw record every source produces. */
  raw: RawInputs;
  /** --help, or --help-all for every option of a long command. */
  help: boolean | 'all';
  json: boolean;
  /** Secrets given as a plain option, visible to anyone who lists processes. */
  exposed: string[];
  /** Inputs that came from an environment variable, by key: the variable's name (for messages). */
  fromEnv: Record<string, string>;
}

export interface FlagSources {
  env?: NodeJS.ProcessEnv;
  /** Reads standard input whole (for --<secret>-stdin). */
  stdin?: () => string;
}

/**
 * The CLI's reader: options named as the inputs (`--name value`,
 * `--name=value`; a repeated option adds a line to a multi-line input).
 * Switches take `--cache`, `--no-cache`, `--cache=false` and `--cache false`.
 * A secret can come from `--<name>-stdin`, `--<name>-file PATH` or its
 * environment variable (e.g. ANEW_REGISTRY_PASSWORD), so it need not be
 * visible in `ps`.
 */
export function parseFlags(args: readonly string[], spec: InputSpecs, sources: FlagSources = {}): ParsedArgs {
  const env = sources.env ?? process.env;
  const raw: Record<string, string> = {};
  let help: boolean | 'all' = false;
  let json = false;
  const exposed: string[] = [];
  const set = (key: string, value: string, how: string) => {
    if (raw[key] !== undefined && !spec[key]!.multiline)
      throw new UsageError(`--${key} is given twice`, `Give it once${how ? ` (also given by ${how})` : ''}`);
    raw[key] = raw[key] === undefined ? value : `${raw[key]}\n${value}`;
  };
  let stdinUsed: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h' || arg === '--help-all') {
      help = arg === '--help-all' ? 'all' : help === 'all' ? 'all' : true;
      continue;
    }
    if (arg === '--json') {
      json = true;
      continue;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m)
      throw new UsageError(`unexpected argument "${arg}"`, 'Options look like --name value; see --help');
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    const s = spec[name];
    if (s?.boolean) {
      let v = inline;
      // `--cache false`: the next word is the value only when it is a boolean.
      if (v === undefined && args[i + 1] !== undefined && parseBool(args[i + 1]!) !== undefined)
        v = args[++i];
      if (v !== undefined && parseBool(v) === undefined)
        throw new UsageError(`--${name} is "${v}", not a boolean`, 'Use true or false');
      set(name, v ?? 'true', '');
    } else if (name.startsWith('no-') && spec[name.slice(3)]?.boolean && inline === undefined) {
      set(name.slice(3), 'false', '');
    } else if (s) {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value`, `See --help`);
      if (s.secret) exposed.push(name);
      set(name, v, '');
    } else if (name.endsWith('-stdin') && spec[name.slice(0, -6)]?.secret && inline === undefined) {
      const key = name.slice(0, -6);
      if (stdinUsed) throw new UsageError(`--${name} and --${stdinUsed}-stdin both read standard input`);
      stdinUsed = key;
      set(key, (sources.stdin ?? (() => fs.readFileSync(0, 'utf8')))().replace(/\r?\n$/, ''), '');
    } else if (name.endsWith('-file') && spec[name.slice(0, -5)]?.secret) {
      const key = name.slice(0, -5);
      const file = inline ?? args[++i];
      if (file === undefined)
        throw new UsageError(`option --${name} needs a value`, 'Give the path of a file');
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`--${name} names ${file}, which cannot be read: ${(e as Error).message}`);
      }
      set(key, text.replace(/\r?\n$/, ''), '');
    } else {
      const near = closest(
        name,
        Object.keys(spec).flatMap((k) => (spec[k]!.boolean ? [k, `no-${k}`] : [k])),
      );
      throw new UsageError(
        `unknown option --${name}`,
        near ? `Did you mean --${near}? See --help` : 'See --help for the options of this command',
      );
    }
  }
  // Secrets not given as options: from their environment variable.
  const fromEnv: Record<string, string> = {};
  for (const [key, s] of Object.entries(spec)) {
    const v = s.env ? env[s.env] : undefined;
    if (raw[key] === undefined && s.secret && v !== undefined && v !== '') {
      raw[key] = v;
      fromEnv[key] = s.env!;
    }
  }
  return { raw, help, json, exposed, fromEnv };
}

/** The word in `words` closest to `word` (edit distance at most 2, or a prefix), if any. */
export function closest(word: string, words: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const w of words) {
    const d = w.startsWith(word) && word.length >= 3 ? 1 : distance(word, w);
    if (d < bestD) [best, bestD] = [w, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
