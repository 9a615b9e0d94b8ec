import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { actionYmlPath, generatedFiles, specs } from '../../../actions/generate.ts';
import { SETTINGS, settingDescription, settingKeys } from '../../core/src/config/index.ts';

/**
 * The public contract, checked statically: action.yml and the anew.yml
 * schema are what the declarations in code make; every input an action
 * declares is read by its code, every output it declares is set; every
 * action runs the committed bundle on node24.
 */
const root = path.resolve(import.meta.dirname, '../../..');

interface ActionYml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
  runs: { using: string; main: string };
}

const yml = (name: string) =>
  parse(fs.readFileSync(path.join(root, actionYmlPath(name)), 'utf8')) as ActionYml;

/** The action's code (not its declaration) and the shared readers it calls. */
function sourcesOf(name: string): string {
  let text = fs.readFileSync(path.join(root, 'actions', name, 'src/main.ts'), 'utf8');
  // The root action reads its inputs through the actions it is made of.
  for (const m of text.matchAll(/from '\.\.\/\.\.\/(\w+)\/src\/main\.ts'/g)) text += `\n${sourcesOf(m[1]!)}`;
  const shared = path.join(root, 'packages/action/src');
  for (const f of ['policy.ts', 'environment.ts'])
    if (text.includes(`@anew/action/${f.slice(0, -3)}'`))
      text += fs.readFileSync(path.join(shared, f), 'utf8');
  return text;
}

describe('generated files', () => {
  it('every action.yml and schema/anew.schema.json are what `npm run gen` makes from the code', () => {
    const stale = Object.entries(generatedFiles())
      .filter(([file, text]) => fs.readFileSync(path.join(root, file), 'utf8') !== text)
      .map(([file]) => file);
    expect(stale, 'out of date: run npm run gen').toEqual([]);
  });

  it('every setting is in the schema and in the action.yml of every action that takes it, with its description', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(root, 'schema/anew.schema.json'), 'utf8'));
    const missing: string[] = [];
    for (const key of settingKeys()) {
      const described = settingDescription(key);
      // A secret is never a key of anew.yml: the schema refuses it.
      if (SETTINGS[key].secret) {
        if (schema.definitions.settings.properties[key])
          missing.push(`schema/anew.schema.json: ${key} (a secret)`);
      } else if (schema.definitions.settings.properties[key]?.description !== described)
        missing.push(`schema/anew.schema.json: ${key}`);
      // ship is made of deploy and flip, so it takes their settings too.
      const takers = [
        ...SETTINGS[key].actions,
        ...(SETTINGS[key].actions.some((a) => a === 'deploy' || a === 'flip') ? ['ship'] : []),
      ];
      for (const action of takers)
        if (yml(action).inputs[key]?.description !== described)
          missing.push(`${actionYmlPath(action)}: ${key}`);
      // A setting's default lives in code: a runner-filled default would beat anew.yml.
      for (const s of specs)
        if (yml(s.name).inputs[key]?.default !== undefined)
          missing.push(`${actionYmlPath(s.name)}: ${key} has a default`);
    }
    expect(missing).toEqual([]);
  });

  it('a setting declared once appears in the schema and in every action.yml that takes it', async () => {
    vi.resetModules();
    const config = await import('../../core/src/config/index.ts');
    (config.SETTINGS as Record<string, unknown>)['drain-timeout'] = {
      description: 'How long a retired target may finish its requests.',
      default: 30_000,
      shownDefault: '30s',
      parse: config.parseDuration,
      schema: { $ref: '#/definitions/duration' },
      actions: ['flip', 'rollback'],
    };
    try {
      const { generatedFiles: regenerate } = await import('../../../actions/generate.ts');
      const files = regenerate();
      const description =
        'How long a retired target may finish its requests. Default: 30s, unless anew.yml sets it.';
      for (const file of ['actions/flip/action.yml', 'actions/rollback/action.yml', 'action.yml'])
        expect((parse(files[file]!) as ActionYml).inputs['drain-timeout'], file).toEqual({ description });
      for (const file of [
        'actions/deploy/action.yml',
        'actions/cleanup/action.yml',
        'actions/build/action.yml',
      ])
        expect((parse(files[file]!) as ActionYml).inputs['drain-timeout'], file).toBeUndefined();
      const schema = JSON.parse(files['schema/anew.schema.json']!);
      expect(schema.definitions.settings.properties['drain-timeout']).toEqual({
        description,
        $ref: '#/definitions/duration',
      });
      // And the committed files no longer match: the first test names them.
      expect(
        Object.entries(files)
          .filter(([f, t]) => fs.readFileSync(path.join(root, f), 'utf8') !== t)
          .map(([f]) => f)
          .sort(),
      ).toEqual([
        'action.yml',
        'actions/flip/action.yml',
        'actions/rollback/action.yml',
        'schema/anew.schema.json',
      ]);
    } finally {
      delete (config.SETTINGS as Record<string, unknown>)['drain-timeout'];
      vi.resetModules();
    }
  });
});

describe.each(specs.map((s) => s.name))('action %s', (name) => {
  const spec = specs.find((s) => s.name === name)!;
  const meta = yml(name);

  it('runs its committed bundle on node24', () => {
    expect(meta.runs.using).toBe('node24');
    expect(
      fs.existsSync(path.resolve(path.dirname(path.join(root, actionYmlPath(name))), meta.runs.main)),
    ).toBe(true);
  });

  it('describes every input and output; takes github-token only when it talks to GitHub, config only when it reads anew.yml', () => {
    for (const [k, v] of Object.entries({ ...meta.inputs, ...meta.outputs }))
      expect(v.description, k).toBeTruthy();
    const src = sourcesOf(name);
    expect('github-token' in meta.inputs, 'github-token').toBe(
      /@actions\/github|@anew\/action\/github'|github-attestation/.test(src),
    );
    expect('config' in meta.inputs, 'config').toBe(/readEnvironment\(/.test(src));
  });

  it.skipIf(spec.hidden)('reads every input it declares and sets every output', () => {
    const src = sourcesOf(name);
    const unread = Object.entries(spec.inputs)
      .filter(([k, s]) => (s.setting ? !/readEnvironment\(/.test(src) : !src.includes(`'${k}'`)))
      .map(([k]) => k);
    expect(unread, `inputs declared but never read by actions/${name}`).toEqual([]);
    const unset = Object.keys(spec.outputs).filter(
      (k) => !src.includes(`'${k}'`) && !new RegExp(`\\b${k}:`).test(src),
    );
    expect(unset, `outputs declared but never set by actions/${name}`).toEqual([]);
  });
});
