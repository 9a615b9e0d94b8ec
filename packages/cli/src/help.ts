import type { ActionSpec, InputSpec } from '@anew/action';
import { SETTINGS } from '@anew/core/config';

/** A few command lines per command, shown first in its help. */
const EXAMPLES: Record<string, string[]> = {
  build: [
    'anew build --image ghcr.io/acme/web --files "dist/:/www/" --cmd "httpd -f -h /www"',
    'anew build --image ghcr.io/acme/web --context . --no-cache',
  ],
  attest: ['anew attest --image ghcr.io/acme/web@sha256:… --signing-key-file cosign.key'],
  verify: ['anew verify --image ghcr.io/acme/web@sha256:… --public-key cosign.pub'],
  deploy: ['anew deploy --image ghcr.io/acme/web@sha256:… --environment staging --health-path /health'],
  flip: [
    'anew flip --environment production --target anew-web-production-…',
    'anew flip --environment production --target anew-web-production-… --strategy canary --steps 10,50',
  ],
  rollback: ['anew rollback --environment production'],
  cleanup: ['anew cleanup --environment pr-42 --all'],
  ship: [
    'anew ship --image ghcr.io/acme/web --environment production --signing-key-file cosign.key',
    'anew ship --image ghcr.io/acme/web --environment staging --dry-run',
    'echo "$TOKEN" | anew ship --image ghcr.io/acme/web --environment staging --registry-username bot --registry-password-stdin',
  ],
};

/** The first sentence of a description, for the one line each option gets. */
function firstSentence(text: string): string {
  // A sentence ends at a full stop before a capital ("e.g. ghcr.io" does not end one).
  const m = /^(.+?)\.(\s+[A-Z"]|$)/.exec(text);
  return m ? m[1]! : text;
}

function optionLine(key: string, s: InputSpec): [string, string] {
  let name = s.boolean ? `--[no-]${key}` : `--${key} ${s.multiline ? 'VALUE…' : 'VALUE'}`;
  if (s.secret) name = `--${key}, --${key}-file PATH, --${key}-stdin`;
  const notes: string[] = [];
  if (s.required) notes.push('required');
  if (s.default !== undefined && !s.boolean) notes.push(`default ${s.default}`);
  const settingDefault = s.setting && SETTINGS[s.setting].shownDefault;
  if (settingDefault && !s.boolean) notes.push(`default ${settingDefault} unless anew.yml sets it`);
  if (s.boolean && s.default === 'true') notes.push('on by default');
  if (s.env) notes.push(`or $${s.env}`);
  const text = firstSentence(s.description);
  return [name, notes.length ? `${text} (${notes.join(', ')})` : text];
}

/**
 * Groups a long help folds into one line unless --help-all: what a command made of several steps (ship)
 * takes for its steps' finer points, each also in that step's own --help.
 */
const FOLDED_GROUPS = ['Provenance policy', 'Cache', 'Signing', 'Attestation', 'GitHub'];
const LONG_HELP = 100;

/** `anew <command> --help`: examples, then the options grouped as the action's inputs are. */
export function actionHelp(spec: ActionSpec, all = false): string {
  const required = Object.entries(spec.inputs)
    .filter(([, s]) => s.required)
    .map(([k]) => `--${k} VALUE`)
    .join(' ');
  const groups = new Map<string, [string, string][]>();
  for (const [k, s] of Object.entries(spec.inputs)) {
    const g = groups.get(s.group) ?? [];
    g.push(optionLine(k, s));
    groups.set(s.group, g);
  }
  const width = Math.min(34, Math.max(...[...groups.values()].flat().map(([n]) => n.length)) + 2);
  const lines = [`Usage: anew ${spec.name} ${required} [options]`, '', spec.description];
  const examples = EXAMPLES[spec.name];
  if (examples) lines.push('', 'Examples:', ...examples.map((e) => `  ${e}`));
  // A help longer than a screenful or two folds the finer groups (each is a step's own --help too).
  const length = [...groups.values()].reduce((n, g) => n + g.length * 1.2 + 2, 0);
  const folded = !all && length > LONG_HELP ? FOLDED_GROUPS.filter((g) => groups.has(g)) : [];
  for (const [group, opts] of groups) {
    if (folded.includes(group)) continue;
    lines.push('', `${group}:`);
    for (const [name, text] of opts)
      lines.push(
        name.length + 2 > width
          ? `  ${name}\n  ${' '.repeat(width)}${text}`
          : `  ${name.padEnd(width)}${text}`,
      );
  }
  if (folded.length > 0)
    lines.push(
      '',
      `More: ${folded.map((g) => `${g} (${groups.get(g)!.length})`).join(', ')}: anew ${spec.name} --help-all lists every option.`,
    );
  lines.push(
    '',
    'Output:',
    `  ${'--json'.padEnd(width)}Print the outputs as one JSON object (default: name=value lines)`,
    '',
    `The options are the inputs of the ${spec.name} action; environment settings also come from anew.yml (--config).`,
    'Repeat an option to give several lines. Exit codes: 0 done, 1 failed, 2 usage error.',
  );
  return lines.join('\n');
}
