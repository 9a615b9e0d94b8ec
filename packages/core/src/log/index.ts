/**
 * What the core needs from a log. The actions adapt @actions/core to it,
 * the CLI writes to stderr, tests collect lines.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** One group per phase of the work. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Never print this value again (registry passwords, keys, tokens). */
  setSecret(secret: string): void;
}

/**
 * A value as the log shows it: `%`, CR and LF escaped as @actions/core's
 * escapeData escapes command values, so a value never starts a line of its
 * own (a line starting with `::` is a workflow command to the runner).
 */
export function escapeData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A whole message on one line: line breaks escaped (as in escapeData), the rest as written. */
export function oneLine(message: string): string {
  return message.replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/**
 * The secrets of a run, registered in one place and masked everywhere text
 * leaves the process: the log, the job summary, the CLI's output.
 */
export class SecretMasker {
  private readonly secrets = new Set<string>();
  /** Registers a secret; a multi-line one (a PEM key) line by line too, as the runner matches per line. */
  add(secret: string): void {
    // Short strings would mask ordinary words; the runner has the same rule of thumb.
    if (secret.length >= 4) this.secrets.add(secret);
    if (/[\r\n]/.test(secret))
      for (const line of secret.split(/\r?\n/)) if (line.trim().length >= 4) this.secrets.add(line.trim());
  }
  mask(text: string): string {
    let out = text;
    // Longest first, so a secret that contains another is masked whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
    return out;
  }
}

/** A logger for terminals: masks secrets itself, since no runner does it. */
export class ConsoleLogger implements Logger {
  readonly secrets = new SecretMasker();
  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
    private readonly verbose = !!process.env['ANEW_DEBUG'],
  ) {}
  private mask(s: string): string {
    return this.secrets.mask(s);
  }
  debug(m: string): void {
    if (this.verbose) this.write(this.mask(`debug: ${m}`));
  }
  info(m: string): void {
    this.write(this.mask(m));
  }
  warning(m: string): void {
    this.write(this.mask(`warning: ${m}`));
  }
  error(m: string): void {
    this.write(this.mask(`error: ${m}`));
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.write(this.mask(`▸ ${name}`));
    return fn();
  }
  setSecret(secret: string): void {
    this.secrets.add(secret);
  }
}

/** Collects lines; for tests and for quiet library use. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  private readonly secrets = new Set<string>();
  private push(level: string, m: string): void {
    let out = m;
    for (const s of this.secrets) out = out.split(s).join('***');
    this.lines.push(`${level}: ${out}`);
  }
  debug(m: string): void {
    this.push('debug', m);
  }
  info(m: string): void {
    this.push('info', m);
  }
  warning(m: string): void {
    this.push('warning', m);
  }
  error(m: string): void {
    this.push('error', m);
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.push('group', name);
    return fn();
  }
  setSecret(secret: string): void {
    if (secret) this.secrets.add(secret);
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warning() {},
  error() {},
  group: (_n, fn) => fn(),
  setSecret() {},
};
