import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { type ActionRun, runAction } from './action.ts';

/**
 * Runs the steps of a workflow as written in the docs, the way the runner
 * would: `${{ … }}` expressions evaluated from the job's context and the
 * outputs of earlier steps, anew's actions run from their committed bundles
 * with their `with:` as inputs, `run:` steps in bash. What cannot run here
 * is named and replaced, never silently skipped: actions/checkout (the test
 * lays out the workspace), docker/login-action (the test registry is open),
 * and, through `services`, the hosts the docs name (ghcr.io becomes the test
 * registry, Sigstore's public instance the loopback mock).
 */
export interface WorkflowContext {
  /** `github.*` values (repository, sha, ref, event.number …). */
  github: Record<string, string>;
  secrets?: Record<string, string>;
  workspace: string;
  env: Record<string, string | undefined>;
  /** Text replaced in every `with:` value: the docs' hosts → the test's services. */
  hosts: Record<string, string>;
  /** Inputs added to a step of an action (e.g. a private Sigstore's URLs for attest). */
  extraInputs?: Record<string, Record<string, string>>;
}

export interface StepResult {
  id?: string;
  what: string;
  run?: ActionRun;
  skipped?: string;
}

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}

/** The steps of a YAML snippet: a whole workflow (its first job), a job, or a bare list of steps. */
export function stepsOf(yamlText: string): Step[] {
  const doc = parse(yamlText) as unknown;
  if (Array.isArray(doc)) return doc as Step[];
  const d = doc as { jobs?: Record<string, { steps: Step[] }>; steps?: Step[] };
  if (d.jobs) return Object.values(d.jobs)[0]!.steps;
  if (d.steps) return d.steps;
  throw new Error('no steps in this snippet');
}

/** Evaluates `${{ … }}` in a value; an expression this runner does not know fails the test. */
export function evaluate(
  text: string,
  ctx: WorkflowContext,
  outputs: Record<string, Record<string, string>>,
): string {
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
    let m = /^github\.(.+)$/.exec(expr);
    if (m && m[1]! in ctx.github) return ctx.github[m[1]!]!;
    m = /^secrets\.(\w+)$/.exec(expr);
    if (m && ctx.secrets && m[1]! in ctx.secrets) return ctx.secrets[m[1]!]!;
    m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expr);
    if (m) {
      const v = outputs[m[1]!]?.[m[2]!];
      if (v === undefined) throw new Error(`\${{ ${expr} }}: step "${m[1]}" has no output "${m[2]}"`);
      return v;
    }
    throw new Error(`\${{ ${expr} }} is not known to the test's runner`);
  });
}

const ACTION = /^anew-dev\/anew(?:\/actions\/([a-z]+))?@v\d+$/;

export async function runSteps(steps: Step[], ctx: WorkflowContext): Promise<StepResult[]> {
  const outputs: Record<string, Record<string, string>> = {};
  const results: StepResult[] = [];
  for (const step of steps) {
    if (step.uses?.startsWith('actions/checkout@')) {
      results.push({ what: step.uses, skipped: 'the test laid out the workspace' });
      continue;
    }
    if (step.uses?.startsWith('docker/login-action@')) {
      results.push({ what: step.uses, skipped: 'the test registry needs no login' });
      continue;
    }
    if (step.uses) {
      const m = ACTION.exec(step.uses);
      if (!m) throw new Error(`the docs use ${step.uses}, which the test's runner cannot run`);
      const name = m[1] ?? 'ship';
      const inputs: Record<string, string> = {};
      for (const [k, v] of Object.entries(step.with ?? {})) {
        let value = evaluate(String(v), ctx, outputs);
        for (const [from, to] of Object.entries(ctx.hosts)) value = value.replaceAll(from, to);
        inputs[k] = value;
      }
      Object.assign(inputs, ctx.extraInputs?.[name] ?? {});
      const run = await runAction(name, inputs, { cwd: ctx.workspace, env: ctx.env });
      results.push({ id: step.id, what: step.uses, run });
      if (run.code !== 0) throw new Error(`step ${step.id ?? step.uses} failed:\n${run.log}`);
      if (step.id) outputs[step.id] = run.outputs;
      continue;
    }
    if (step.run) {
      const script = evaluate(step.run, ctx, outputs);
      const stepEnv = Object.fromEntries(
        Object.entries(step.env ?? {}).map(([k, v]) => [k, evaluate(String(v), ctx, outputs)]),
      );
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: ctx.workspace,
        encoding: 'utf8',
        env: { ...process.env, ...ctx.env, ...stepEnv } as NodeJS.ProcessEnv,
        timeout: 60_000,
      });
      results.push({ id: step.id, what: `run: ${script.trim()}` });
      if (r.status !== 0)
        throw new Error(`run step failed (exit ${r.status}): ${script}\n${r.stdout}${r.stderr}`);
      continue;
    }
    throw new Error(`a step with neither uses nor run: ${JSON.stringify(step)}`);
  }
  return results;
}
