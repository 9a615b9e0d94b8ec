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
  /**
   * How far long work has got (bytes hashed or uploaded, a wait): shown live
   * on a terminal, nowhere else. `total` is undefined when unknown.
   */
  progress?(label: string, done: number, total?: number, unit?: 'bytes'): void;
}

/**
 * A progress callback for `label` that reaches `log.progress` at most every
 * 100 ms (and always at the end), so a loop over thousands of small files
 * can report each one; nothing at all when the logger shows no progress.
 */
export function progressOf(
  log: Logger,
  label: string,
  /** The whole, when known; a function when it becomes known later. */
  total?: number | (() => number | undefined),
): (done: number) => void {
  if (!log.progress) return () => {};
  let last = 0;
  return (done) => {
    const now = Date.now();
    const whole = typeof total === 'function' ? total() : total;
    if (now - last < 100 && done !== whole) return;
    last = now;
    log.progress?.(label, done, whole, 'bytes');
  };
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

/** A size as a person reads it: 812 B, 12.3 KiB, 4.0 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * A logger for terminals: masks secrets itself, since no runner does it. On a
 * terminal it also shows progress on one status line that it redraws: the
 * phase (group) under way and its elapsed time (a health wait, a canary
 * step), with bytes and rate where the work reports them. When the output is
 * not a terminal (a pipe, a file, CI), there is no status line at all.
 */
export class ConsoleLogger implements Logger {
  readonly secrets = new SecretMasker();
  private readonly groups: { name: string; start: number }[] = [];
  private status: { label: string; done: number; total?: number; unit?: 'bytes'; start: number } | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private shown = false;
  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
    private readonly verbose = !!process.env['ANEW_DEBUG'],
    /** Where the status line goes; undefined when the output is not a terminal. */
    private readonly terminal: ((text: string) => void) | undefined = process.stderr.isTTY
      ? (t) => process.stderr.write(t)
      : undefined,
  ) {}
  private mask(s: string): string {
    return this.secrets.mask(s);
  }
  private line(s: string): void {
    this.clearStatus();
    this.write(this.mask(s));
  }
  private clearStatus(): void {
    if (this.terminal && this.shown) this.terminal('\r\x1b[K');
    this.shown = false;
  }
  private drawStatus(): void {
    if (!this.terminal) return;
    const g = this.groups[this.groups.length - 1];
    const parts: string[] = [];
    if (g) parts.push(`… ${g.name} ${((Date.now() - g.start) / 1000).toFixed(1)}s`);
    const p = this.status;
    if (p) {
      const fmt = (n: number) => (p.unit === 'bytes' ? formatBytes(n) : String(n));
      const secs = Math.max((Date.now() - p.start) / 1000, 0.001);
      parts.push(
        `${p.label} ${fmt(p.done)}${p.total !== undefined ? ` / ${fmt(p.total)}` : ''}${p.unit === 'bytes' ? ` ${formatBytes(Math.round(p.done / secs))}/s` : ''}`,
      );
    }
    if (parts.length === 0) {
      this.clearStatus();
      return;
    }
    const width = process.stderr.columns || 100;
    this.terminal(`\r\x1b[K${this.mask(parts.join('  ·  ')).slice(0, width - 1)}`);
    this.shown = true;
  }
  private tick(): void {
    if (!this.terminal || this.ticker) return;
    this.ticker = setInterval(() => this.drawStatus(), 250);
    // The status line never keeps the process alive.
    this.ticker.unref();
  }
  debug(m: string): void {
    if (this.verbose) this.line(`debug: ${m}`);
  }
  info(m: string): void {
    this.line(m);
  }
  warning(m: string): void {
    this.line(`warning: ${m}`);
  }
  error(m: string): void {
    this.line(`error: ${m}`);
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.line(`▸ ${name}`);
    const g = { name, start: Date.now() };
    this.groups.push(g);
    this.tick();
    this.drawStatus();
    try {
      return await fn();
    } finally {
      this.groups.splice(this.groups.indexOf(g), 1);
      this.status = undefined;
      if (this.terminal) this.line(`  ${name}: ${((Date.now() - g.start) / 1000).toFixed(1)}s`);
      if (this.groups.length === 0 && this.ticker) {
        clearInterval(this.ticker);
        this.ticker = undefined;
        this.clearStatus();
      }
    }
  }
  progress(label: string, done: number, total?: number, unit?: 'bytes'): void {
    if (!this.terminal) return;
    const start = this.status?.label === label ? this.status.start : Date.now();
    this.status = { label, done, total, unit, start };
    this.tick();
    this.drawStatus();
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
