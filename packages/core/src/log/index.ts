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

/** A logger for terminals: masks secrets itself, since no runner does it. */
export class ConsoleLogger implements Logger {
  private readonly secrets = new Set<string>();
  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
    private readonly verbose = !!process.env['ANEW_DEBUG'],
  ) {}
  private mask(s: string): string {
    let out = s;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
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
    // Short strings would mask ordinary words; the runner has the same rule of thumb.
    if (secret && secret.length >= 4) this.secrets.add(secret);
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
