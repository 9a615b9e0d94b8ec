import { spawn } from 'node:child_process';
import { UserError } from '../errors/index.ts';
import { escapeData, type Logger } from '../log/index.ts';

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the command's standard input. */
  input?: string | Buffer;
  /** Do not throw on a non-zero exit; the caller reads `code`. */
  ignoreReturnCode?: boolean;
  /** Do not print the `Running:` line (for polling loops). */
  quiet?: boolean;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Every external command (docker, buildx, git, ssh) goes through here, so the
 * argv is built by pure functions that tests check in tables, and a test can
 * hand the core another Exec.
 *
 * Not @actions/exec, which the toolkit anchors use: it leaves a command's
 * stdin open unless given input (a command that reads it waits forever), and
 * it writes that input with no error handler, so a command that exits before
 * reading it (git outside a repository, a docker login refused early) kills
 * the whole process with an uncaught EPIPE (seen in this suite). Here stdin
 * always ends and a write error is the command's failure, not ours.
 */
export class Exec {
  constructor(private readonly log?: Logger) {}

  async run(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (!opts.quiet) this.log?.info(`Running: ${[command, ...args].map(quoteForLog).join(' ')}`);
    return new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(command, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: opts.timeoutMs,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') {
          reject(new UserError(`${command} is not installed or not on PATH`, `Install ${command} first`));
        } else reject(e);
      });
      child.on('close', (code, signal) => {
        const res = {
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        };
        if (res.code !== 0 && !opts.ignoreReturnCode) {
          const detail = (res.stderr.trim() || res.stdout.trim()).split('\n').slice(-5).join('\n');
          reject(new ExecError(`${command} ${args[0] ?? ''} failed (exit ${res.code}): ${detail}`, res));
        } else resolve(res);
      });
      // A command that exits before reading its input closes the pipe: its exit code tells what happened.
      child.stdin.on('error', () => {});
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
    });
  }
}

export class ExecError extends Error {
  override name = 'ExecError';
  constructor(
    message: string,
    readonly result: ExecResult,
  ) {
    super(message);
  }
}

/** An argument as the `Running:` line shows it: shell-quoted, with CR, LF and % escaped (it never starts a line). */
function quoteForLog(a: string): string {
  return /^[\w@+=:,./-]+$/.test(a) ? a : `'${escapeData(a).replace(/'/g, `'\\''`)}'`;
}
