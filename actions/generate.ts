import type { ActionSpec } from '@anew/action';
import { anewSchema } from '@anew/core/config';
import { stringify } from 'yaml';
import { spec as attest } from './attest/src/spec.ts';
import { spec as build } from './build/src/spec.ts';
import { spec as cleanup } from './cleanup/src/spec.ts';
import { spec as deploy } from './deploy/src/spec.ts';
import { spec as flip } from './flip/src/spec.ts';
import { spec as promote } from './promote/src/spec.ts';
import { spec as rollback } from './rollback/src/spec.ts';
import { spec as ship } from './ship/src/spec.ts';
import { spec as verify } from './verify/src/spec.ts';

/**
 * The files made from the declarations in code (`npm run gen` writes them; a
 * test fails when the committed ones differ): every action.yml, from its
 * action's spec.ts and the settings it takes, and schema/anew.schema.json,
 * from the settings.
 */
export const specs: readonly ActionSpec[] = [
  ship,
  build,
  attest,
  verify,
  deploy,
  flip,
  rollback,
  promote,
  cleanup,
];

export function actionYmlPath(name: string): string {
  return name === 'ship' ? 'action.yml' : `actions/${name}/action.yml`;
}

export function actionYml(spec: ActionSpec): string {
  const dist = spec.name === 'ship' ? 'dist/ship' : `../../dist/${spec.name}`;
  const inputs = Object.fromEntries(
    Object.entries(spec.inputs).map(([k, v]) => {
      const out: Record<string, string | boolean> = { description: v.description };
      if (v.required) out['required'] = true;
      const dflt = v.runnerDefault ?? v.default;
      if (dflt !== undefined) out['default'] = dflt;
      return [k, out];
    }),
  );
  const doc = {
    name: `anew ${spec.name}`,
    description: spec.description,
    author: 'anew',
    branding: { icon: 'refresh-cw', color: 'green' },
    inputs,
    outputs: spec.outputs,
    runs: {
      using: 'node24',
      main: `${dist}/index.cjs`,
      ...(spec.postIf ? { post: `${dist}/post.cjs`, 'post-if': spec.postIf } : {}),
    },
  };
  return `# Generated from actions/${spec.name}/src/spec.ts by \`npm run gen\`: edit that file, not this one.\n${stringify(doc, { lineWidth: 0 })}`;
}

export function generatedFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const s of specs) files[actionYmlPath(s.name)] = actionYml(s);
  files['schema/anew.schema.json'] = `${JSON.stringify(anewSchema(), null, 2)}\n`;
  return files;
}
