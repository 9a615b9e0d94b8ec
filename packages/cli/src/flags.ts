import { UserError } from '@anew/core/errors';

/**
 * `--name value`, `--name=value` and bare `--flag` (for the names in
 * `booleans`). Options keep the action inputs' kebab-case names, so a
 * workflow step and a command line read the same.
 */
export function parseFlags(
  args: readonly string[],
  spec: { values: readonly string[]; booleans?: readonly string[] },
): Record<string, string> {
  const out: Record<string, string> = {};
  const booleans = new Set(spec.booleans ?? []);
  const values = new Set(spec.values);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new UserError(`unexpected argument "${arg}"`, 'Options look like --name value; see --help');
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    if (booleans.has(name)) {
      out[name] = inline ?? 'true';
    } else if (values.has(name)) {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UserError(`option --${name} needs a value`);
      // Repeated options add lines, as multi-line inputs do (e.g. several --docker-host).
      out[name] = out[name] === undefined ? v : `${out[name]}\n${v}`;
    } else throw new UserError(`unknown option --${name}`, 'See --help for the options of this command');
  }
  return out;
}
