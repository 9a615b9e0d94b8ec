import { type OutputValue, outputText } from '@anew/action';
import type { ConsoleLogger } from '@anew/core/log';

export type Command = (args: string[], log: ConsoleLogger) => Promise<number>;

/**
 * Prints a command's outputs on stdout: name=value lines (a multi-line output
 * joined with commas), or with --json one JSON object, for scripts.
 */
export function printOutputs(outputs: Readonly<Record<string, OutputValue>>, json: boolean): void {
  const given = Object.entries(outputs).filter(
    (e): e is [string, Exclude<OutputValue, undefined>] => e[1] !== undefined,
  );
  if (json) {
    const value = (v: Exclude<OutputValue, undefined>) =>
      Array.isArray(v) || typeof v === 'boolean' || typeof v === 'number' ? v : String(v);
    process.stdout.write(`${JSON.stringify(Object.fromEntries(given.map(([k, v]) => [k, value(v)])))}\n`);
    return;
  }
  for (const [k, v] of given) process.stdout.write(`${k}=${outputText(v).split('\n').join(',')}\n`);
}
