import { checkText, checkUrl, shown } from '@anew/core/config';
import { UserError } from '@anew/core/errors';
import {
  type Digest,
  lowerCaseRepository,
  parseDigest,
  parsePinnedReference,
  parseRepository,
  type Reference,
} from '@anew/core/ref';
import type { InputSpecs } from './spec.ts';

/** The inputs a step was given, as text, by key: only those given (an empty value is not given). */
export type RawInputs = Readonly<Record<string, string>>;

/** Where the raw inputs came from: how messages name them, and where secrets are registered. */
export interface InputSource {
  /** How a message names an input: `input "image"` in a workflow, `--image` on a command line. */
  name(key: string): string;
  /** The name alone, inside a sentence that already says what it is: `"image"` or `--image`. */
  short(key: string): string;
  /** What to do about a missing required input. */
  missingHint(key: string): string | undefined;
  /** Registers a secret with the log and the summary before anything can print it. */
  mask(secret: string): void;
  /** A command line rather than a workflow step: hints say what to type. */
  commandLine?: boolean;
  /** Says how an input was read when that differs from how it was written (e.g. lower-cased). */
  notice?(message: string): void;
}

/** The runner's inputs: INPUT_<NAME> (upper-cased, hyphens kept) as the runner sets them. */
export function runnerInputs(spec: InputSpecs, env: NodeJS.ProcessEnv = process.env): RawInputs {
  const out: Record<string, string> = {};
  for (const key of Object.keys(spec)) {
    const v = env[`INPUT_${key.replace(/ /g, '_').toUpperCase()}`];
    if (v !== undefined && v.trim() !== '') out[key] = v;
  }
  return out;
}

export function runnerSource(
  mask: (secret: string) => void,
  notice?: (message: string) => void,
): InputSource {
  return {
    name: (k) => `input "${k}"`,
    short: (k) => `"${k}"`,
    missingHint: (k) => `Set "${k}" in the step's "with:"`,
    mask,
    ...(notice ? { notice } : {}),
  };
}

const TRUE = ['true', 'yes', 'on', '1'];
const FALSE = ['false', 'no', 'off', '0'];

/** A boolean as inputs and options write it, or undefined when it is not one. */
export function parseBool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  return TRUE.includes(s) ? true : FALSE.includes(s) ? false : undefined;
}

/**
 * An action's inputs from any source, checked by type. Every value is checked
 * when the reader is made (no control characters, no line break unless the
 * input is multi-line, a length limit), secrets are registered first; the
 * typed parsers below then check each input as the action reads it. Keys are
 * the action.yml names.
 */
export class InputReader {
  private readonly raw: Record<string, string> = {};

  constructor(
    readonly spec: InputSpecs,
    raw: RawInputs,
    readonly source: InputSource,
  ) {
    // Every secret first, so that no message about another input (which may quote it) shows it.
    for (const [key, value] of Object.entries(raw)) {
      if (!spec[key]?.secret) continue;
      source.mask(value);
      // The value is used trimmed: that is the string that must never be shown.
      if (value.trim() !== value) source.mask(value.trim());
    }
    for (const [key, value] of Object.entries(raw)) {
      const s = spec[key];
      if (!s) throw new UserError(`${source.name(key)} is not an input of this action`);
      // Single-line values are trimmed as the runner's getInput trims them; a trailing newline is no line break.
      const v = s.multiline ? value : value.trim();
      checkText(v, source.name(key), { multiline: s.multiline, max: s.max });
      if (v.trim() !== '') this.raw[key] = v;
    }
  }

  /** How messages name an input, e.g. in a hint: `Give ${r.name('signing-key')}`. */
  name(key: string): string {
    return this.source.name(key);
  }

  /** True when the input was given (not merely defaulted). */
  given(key: string): boolean {
    this.spec[key] ?? this.unknown(key);
    return this.raw[key] !== undefined;
  }

  private unknown(key: string): never {
    throw new Error(`the action reads "${key}", which it does not declare`);
  }

  /** The value as given, else the declared default; undefined when neither. */
  optional(key: string): string | undefined {
    const s = this.spec[key] ?? this.unknown(key);
    const v = this.raw[key] ?? s.default;
    return v === undefined ? undefined : s.multiline ? v : v.trim();
  }

  str(key: string): string {
    return this.optional(key) ?? '';
  }

  required(key: string): string {
    const v = this.optional(key);
    if (v === undefined) throw new UserError(`${this.name(key)} is required`, this.source.missingHint(key));
    return v;
  }

  bool(key: string): boolean {
    const v = this.optional(key);
    if (v === undefined) return false;
    const b = parseBool(v);
    if (b === undefined)
      throw new UserError(`${this.name(key)} is ${shown(v)}, not a boolean`, 'Use true or false');
    return b;
  }

  /** One value per line (and, where `commas` is set, also split on commas); blank lines and # comments dropped. */
  list(key: string, opts: { commas?: boolean } = {}): string[] {
    const lines = this.str(key).split(/\r?\n/);
    const items = opts.commas ? lines.flatMap((l) => l.split(',')) : lines;
    return items.map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
  }

  /** KEY=VALUE per line. */
  keyValues(key: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of this.list(key)) {
      const eq = line.indexOf('=');
      if (eq <= 0)
        throw new UserError(
          `${this.name(key)} has ${shown(line)}, not KEY=VALUE`,
          'Give one KEY=VALUE per line',
        );
      const k = line.slice(0, eq).trim();
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k))
        throw new UserError(`${this.name(key)} has the key ${shown(k)}, which is not a valid name`);
      out[k] = line.slice(eq + 1);
    }
    return out;
  }

  pinnedImage(key: string): Reference & { digest: Digest } {
    return parsePinnedReference(this.imageText(key), this.name(key));
  }

  repository(key: string): Reference {
    return parseRepository(this.imageText(key), this.name(key));
  }

  /** An image input with its repository path lower-cased (`ghcr.io/${{ github.repository }}` may have capitals). */
  private imageText(key: string): string {
    const given = this.required(key).trim();
    const lower = lowerCaseRepository(given);
    if (lower !== given)
      this.source.notice?.(
        `${this.name(key)}: repository ${given} read as ${lower} (registries take lower case only)`,
      );
    return lower;
  }

  digest(key: string): Digest | undefined {
    const v = this.optional(key);
    return v === undefined ? undefined : parseDigest(v, this.name(key));
  }

  /** An http(s) URL without credentials, trailing slashes dropped. */
  url(key: string): string {
    return checkUrl(this.required(key), this.name(key), ['https', 'http']).replace(/\/+$/, '');
  }

  /** An input that carries a secret (already masked when the reader was made); not trimmed. */
  secret(key: string): string | undefined {
    const s = this.spec[key] ?? this.unknown(key);
    if (!s.secret) throw new Error(`"${key}" is read as a secret but not declared as one`);
    return this.raw[key];
  }

  /** A user name and password given as a pair of inputs: both or neither (then the docker config is used). */
  credential(userKey: string, passwordKey: string): { username: string; password: string } | undefined {
    const username = this.optional(userKey);
    const password = this.secret(passwordKey);
    if ((username === undefined) !== (password === undefined))
      throw new UserError(
        `only one of ${this.source.short(userKey)} and ${this.source.short(passwordKey)} is set`,
        'Give both, or neither to use the docker config (docker login)',
      );
    return username && password ? { username, password } : undefined;
  }

  /** Environment names become parts of container names, labels and routes. */
  environmentName(key: string): string {
    const v = this.required(key);
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(v))
      throw new UserError(
        `${this.name(key)} is ${shown(v)}, not a valid environment name`,
        'Use lower-case letters, digits and "-" (at most 63 characters), e.g. production or pr-42',
      );
    return v;
  }

  /**
   * The same raw inputs seen by another action's declaration: how ship reads
   * each step's inputs. `rename` maps a key of `spec` to the key it has here
   * (build's Dockerfile stage "target" is ship's "build-target"); keys of
   * `spec` that are not here, or in `unset`, are not given.
   */
  view(
    spec: InputSpecs,
    rename: Readonly<Record<string, string>> = {},
    unset: readonly string[] = [],
  ): InputReader {
    const raw: Record<string, string> = {};
    for (const key of Object.keys(spec)) {
      if (unset.includes(key)) continue;
      const v = this.raw[rename[key] ?? key];
      if (v !== undefined) raw[key] = v;
    }
    return new InputReader(spec, raw, {
      name: (k) => this.name(rename[k] ?? k),
      short: (k) => this.source.short(rename[k] ?? k),
      missingHint: (k) => this.source.missingHint(rename[k] ?? k),
      // Masked already, by this reader.
      mask: () => {},
      ...(this.source.notice ? { notice: this.source.notice } : {}),
    });
  }
}
