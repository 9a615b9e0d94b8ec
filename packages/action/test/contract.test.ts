import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The public contract, checked statically: every input an action.yml
 * declares is read by the action's code, every output it declares is set,
 * and every action runs the committed bundle on node24.
 */
const root = path.resolve(import.meta.dirname, '../../..');

interface ActionYml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
  runs: { using: string; main: string };
}

const actions = fs
  .readdirSync(path.join(root, 'actions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(root, 'actions', d.name, 'src/main.ts')))
  .map((d) => d.name);

function ymlPath(name: string): string {
  return name === 'ship' ? path.join(root, 'action.yml') : path.join(root, 'actions', name, 'action.yml');
}

/** The action's own sources and the shared readers they import from packages/action. */
function sourcesOf(name: string): string {
  const dir = path.join(root, 'actions', name, 'src');
  let text = fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
  // The root action reads its inputs through the actions it is made of.
  for (const m of text.matchAll(/from '\.\.\/\.\.\/(\w+)\/src\/main\.ts'/g)) text += `\n${sourcesOf(m[1]!)}`;
  const shared = path.join(root, 'packages/action/src');
  for (const f of fs.readdirSync(shared)) {
    const exported = fs.readFileSync(path.join(shared, f), 'utf8');
    const names = [...exported.matchAll(/export (?:async )?function (\w+)/g)].map((m) => m[1]!);
    if (names.some((n) => new RegExp(`\\b${n}\\(`).test(text)) && f !== 'inputs.ts') text += `\n${exported}`;
  }
  return text;
}

const stubs = actions.filter((a) =>
  /notImplemented\(/.test(fs.readFileSync(path.join(root, 'actions', a, 'src/main.ts'), 'utf8')),
);

describe.each(actions)('action %s', (name) => {
  const yml = parse(fs.readFileSync(ymlPath(name), 'utf8')) as ActionYml;

  it('runs its committed bundle on node24', () => {
    expect(yml.runs.using).toBe('node24');
    expect(fs.existsSync(path.resolve(path.dirname(ymlPath(name)), yml.runs.main))).toBe(true);
  });

  it('describes every input and output, and takes config and github-token', () => {
    for (const [k, v] of Object.entries({ ...yml.inputs, ...yml.outputs }))
      expect(v.description, k).toBeTruthy();
    expect(Object.keys(yml.inputs)).toEqual(expect.arrayContaining(['config', 'github-token']));
  });

  it.skipIf(stubs.includes(name))('reads every input it declares and sets every output', () => {
    const src = sourcesOf(name);
    const unread = Object.keys(yml.inputs).filter((k) => !src.includes(`'${k}'`));
    expect(unread, `inputs declared in action.yml but never read by actions/${name}`).toEqual([]);
    const unset = Object.keys(yml.outputs).filter(
      (k) => !src.includes(`'${k}'`) && !new RegExp(`\\b${k}:`).test(src),
    );
    expect(unset, `outputs declared in action.yml but never set by actions/${name}`).toEqual([]);
  });
});
