import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ActionDefinition, executeAction, input } from '@anew/action';
import { parse } from 'yaml';
import { parseFlags } from '../flags.ts';
import { type Command, printOutputs } from './shared.ts';

interface ActionYml {
  description: string;
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
}

/** The action.yml of an action, found from wherever the CLI runs (dist/cli, or the sources in tests). */
function actionYml(name: string): ActionYml {
  const rel = name === 'ship' ? 'action.yml' : path.join('actions', name, 'action.yml');
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, rel);
    if (fs.existsSync(file)) return parse(fs.readFileSync(file, 'utf8')) as ActionYml;
    if (path.dirname(dir) === dir) throw new Error(`${rel} not found above the anew CLI`);
  }
}

function usage(name: string, meta: ActionYml): string {
  const lines = Object.entries(meta.inputs).map(([k, v]) => {
    const dflt = v.default !== undefined && !v.default.includes('${{') ? ` (default: ${v.default})` : '';
    return `  --${k}${v.required ? ' (required)' : ''}\n      ${v.description}${dflt}`;
  });
  return `Usage: anew ${name} [options]\n\n${meta.description}\nThe options are the inputs of the ${name} action; repeat an option for multi-line inputs.\n\n${lines.join('\n')}`;
}

/**
 * A command that runs an action's own definition with its inputs from the
 * command line: the same parsing, checks and core calls as in a workflow.
 * Inputs are set as the runner sets them (INPUT_<NAME>, action.yml defaults),
 * and the outputs are printed as name=value lines.
 */
export function actionCommand(
  name: string,
  // biome-ignore lint/suspicious/noExplicitAny: each action has its own input type
  load: () => Promise<{ default: ActionDefinition<any> }>,
): Command {
  return async (args, log) => {
    const meta = actionYml(name);
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(`${usage(name, meta)}\n`);
      return 0;
    }
    const names = Object.keys(meta.inputs);
    const booleans = names.filter((k) => ['true', 'false'].includes(meta.inputs[k]!.default ?? ''));
    const flags = parseFlags(args, { values: names.filter((k) => !booleans.includes(k)), booleans });
    for (const [k, spec] of Object.entries(meta.inputs)) {
      let value = flags[k] ?? spec.default ?? '';
      if (value.includes('${{')) value = k === 'github-token' ? (process.env['GITHUB_TOKEN'] ?? '') : '';
      process.env[`INPUT_${k.toUpperCase()}`] = value;
    }
    input.maskSecretsWith((s) => log.setSecret(s));
    // Outputs a step sets on its own (e.g. verified=false on refusal) land in a file, not on the terminal.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `anew-${name}-`));
    process.env['GITHUB_OUTPUT'] = path.join(tmp, 'output');
    // Files an action leaves for later steps (bundle-path, predicate-path) must outlive the command.
    process.env['RUNNER_TEMP'] ||= os.tmpdir();
    try {
      const def = (await load()).default;
      const outputs = await executeAction(def, log);
      printOutputs(
        Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v === undefined ? v : String(v)])),
      );
      return 0;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  };
}
