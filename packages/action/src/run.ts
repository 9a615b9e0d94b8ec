import * as core from '@actions/core';
import { errorMessage, isUserError } from '@anew/core/errors';
import type { Logger } from '@anew/core/log';

/** The logger the core sees inside an action: @actions/core underneath. */
export const actionsLogger: Logger = {
  debug: (m) => core.debug(m),
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
  error: (m) => core.error(m),
  group: (name, fn) => core.group(name, fn),
  setSecret: (s) => core.setSecret(s),
};

export type Outputs = Record<string, string | number | boolean | undefined>;

export interface ActionContext {
  log: Logger;
  /** Rows for the job summary; written once at the end, also when the action fails. */
  summary: SummaryBuilder;
}

export class SummaryBuilder {
  title: string | undefined;
  readonly rows: [string, string][] = [];
  readonly notes: string[] = [];
  row(key: string, value: string | number | boolean | undefined): this {
    if (value !== undefined && value !== '') this.rows.push([key, String(value)]);
    return this;
  }
  note(text: string): this {
    this.notes.push(text);
    return this;
  }
}

export interface ActionDefinition<I> {
  /** The action's name, as in anew/<name>; prefixes every failure once. */
  name: string;
  /** Parse and check every input before any side effect. */
  readInputs(): I;
  main(inputs: I, ctx: ActionContext): Promise<Outputs>;
}

/** Reads the inputs (all checks before any side effect), then runs main: what the action and the CLI share. */
export async function executeAction<I>(
  def: ActionDefinition<I>,
  log: Logger,
  summary: SummaryBuilder = new SummaryBuilder(),
): Promise<Outputs> {
  const inputs = def.readInputs();
  return def.main(inputs, { log, summary });
}

/**
 * Runs an action: inputs, main, outputs, summary, and failure reporting.
 * A user error is reported as its message; a bug with its stack.
 */
export async function runAction<I>(def: ActionDefinition<I>, log: Logger = actionsLogger): Promise<void> {
  const summary = new SummaryBuilder();
  let failure: unknown;
  try {
    const outputs = await executeAction(def, log, summary);
    for (const [k, v] of Object.entries(outputs)) if (v !== undefined) core.setOutput(k, String(v));
  } catch (e) {
    failure = e;
  }
  await writeSummary(def.name, summary, failure).catch((e) =>
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

async function writeSummary(name: string, s: SummaryBuilder, failure: unknown): Promise<void> {
  if (!process.env['GITHUB_STEP_SUMMARY']) return;
  if (s.rows.length === 0 && s.notes.length === 0 && failure === undefined) return;
  const sum = core.summary.addHeading(s.title ?? `anew/${name}`, 3);
  if (s.rows.length > 0)
    sum.addTable([
      [
        { data: 'What', header: true },
        { data: 'Value', header: true },
      ],
      ...s.rows.map(([k, v]) => [k, `<code>${escapeHtml(v)}</code>`]),
    ]);
  for (const n of s.notes) sum.addRaw(`<p>${escapeHtml(n)}</p>`, true);
  if (failure !== undefined) sum.addRaw(`<p><b>Failed:</b> ${escapeHtml(errorMessage(failure))}</p>`, true);
  await sum.write();
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
