import os from 'node:os';
import path from 'node:path';
import { errorMessage, isUserError } from '@anew/core/errors';
import { type Logger, oneLine, SecretMasker } from '@anew/core/log';
import { InputReader, type InputSource, type RawInputs, runnerInputs, runnerSource } from './reader.ts';
import type { ActionSpec } from './spec.ts';
import * as core from './workflow-commands.ts';

/**
 * The logger the core sees inside an action: workflow commands underneath. A
 * message never starts a line of its own (info prints it raw, and the
 * runner reads a line starting with `::` as a workflow command); the other
 * levels are workflow commands whose value is escaped.
 */
export function actionsLogger(secrets: SecretMasker): Logger {
  return {
    debug: (m) => core.issue('debug', m),
    info: (m) => core.info(oneLine(m)),
    warning: (m) => core.issue('warning', m),
    error: (m) => core.issue('error', m),
    group: (name, fn) => core.group(oneLine(name), fn),
    setSecret: (s) => {
      core.issue('add-mask', s);
      secrets.add(s);
    },
  };
}

/** An output value as main returns it; written as text (a list one item per line). */
export type OutputValue = string | number | boolean | undefined | readonly string[] | { toString(): string };
export type Outputs = Readonly<Record<string, OutputValue>>;

/** An output as the runner and the CLI print it. */
export function outputText(v: Exclude<OutputValue, undefined>): string {
  return Array.isArray(v) ? v.join('\n') : String(v);
}

export interface ActionContext {
  log: Logger;
  /** Rows for the job summary; written once at the end, also when the action fails. */
  summary: SummaryBuilder;
  /** Where files for later steps of the job go (bundle-path, the build record): $RUNNER_TEMP/anew. */
  jobDir: string;
  /** Keeps a value for this action's post step (inputs are not reliably there); absent outside Actions. */
  saveState?: (key: string, value: string) => void;
}

/** $RUNNER_TEMP/anew in a job; the system's temporary folder elsewhere (it outlives a CLI command). */
export function jobDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env['RUNNER_TEMP'] || os.tmpdir(), 'anew');
}

export class SummaryBuilder {
  title: string | undefined;
  readonly rows: [string, string][] = [];
  readonly notes: string[] = [];
  row(key: string, value: OutputValue): this {
    if (value !== undefined && value !== '') this.rows.push([key, outputText(value)]);
    return this;
  }
  note(text: string): this {
    this.notes.push(text);
    return this;
  }
}

export interface ActionDefinition<I, O extends Outputs = Outputs> extends ActionSpec {
  /** Parses and checks every input, whatever its source, before any side effect. */
  parse(r: InputReader): I;
  /** Does the work and returns every output: nothing sets an output from inside. */
  main(inputs: I, ctx: ActionContext): Promise<O>;
  /** Outputs a failed run still sets, for steps with continue-on-error (e.g. verified=false). */
  failureOutputs?: Outputs;
}

/** Reads the inputs (all checks before any side effect), then runs main: what the action and the CLI share. */
export async function executeAction<I, O extends Outputs>(
  def: ActionDefinition<I, O>,
  raw: RawInputs,
  source: InputSource,
  ctx: ActionContext,
): Promise<O> {
  const inputs = def.parse(new InputReader(def.inputs, raw, source));
  return def.main(inputs, ctx);
}

/**
 * Runs an action as the runner starts it: inputs from INPUT_*, main, outputs,
 * summary, and failure reporting. A user error is reported as its message; a
 * bug with its stack.
 */
export async function runAction<I, O extends Outputs>(def: ActionDefinition<I, O>): Promise<void> {
  const secrets = new SecretMasker();
  const log = actionsLogger(secrets);
  const summary = new SummaryBuilder();
  let failure: unknown;
  const setOutputs = (outputs: Outputs) => {
    for (const [k, v] of Object.entries(outputs)) if (v !== undefined) core.setOutput(k, outputText(v));
  };
  try {
    const raw = runnerInputs(def.inputs);
    setOutputs(
      await executeAction(
        def,
        raw,
        runnerSource(log.setSecret, (m) => log.info(m)),
        {
          log,
          summary,
          jobDir: jobDir(),
          saveState: (k, v) => core.saveState(k, v),
        },
      ),
    );
  } catch (e) {
    failure = e;
    if (def.failureOutputs) setOutputs(def.failureOutputs);
  }
  await writeSummary(def.name, summary, failure, secrets).catch((e) =>
    log.debug(`summary not written: ${errorMessage(e)}`),
  );
  if (failure !== undefined) {
    const msg = `anew/${def.name}: ${errorMessage(failure)}`;
    if (!isUserError(failure) && failure instanceof Error && failure.stack) log.debug(failure.stack);
    core.setFailed(
      isUserError(failure) || !(failure instanceof Error) ? msg : `${msg}\n${failure.stack ?? ''}`,
    );
  }
}

/** The job summary, masked as the log is: the runner masks the log, not the summary file. */
async function writeSummary(
  name: string,
  s: SummaryBuilder,
  failure: unknown,
  secrets: SecretMasker,
): Promise<void> {
  if (!process.env['GITHUB_STEP_SUMMARY']) return;
  if (s.rows.length === 0 && s.notes.length === 0 && failure === undefined) return;
  const text = (v: string) => escapeHtml(secrets.mask(v));
  // The HTML @actions/core's summary writes: a heading, a two-column table, paragraphs.
  let html = `<h3>${text(s.title ?? `anew/${name}`)}</h3>\n`;
  if (s.rows.length > 0)
    html += `<table><tr><th>What</th><th>Value</th></tr>${s.rows
      .map(([k, v]) => `<tr><td>${text(k)}</td><td><code>${text(v)}</code></td></tr>`)
      .join('')}</table>\n`;
  for (const n of s.notes) html += `<p>${text(n)}</p>\n`;
  if (failure !== undefined) html += `<p><b>Failed:</b> ${text(errorMessage(failure))}</p>\n`;
  core.appendSummary(html);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
