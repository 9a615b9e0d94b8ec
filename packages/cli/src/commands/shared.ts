import type { ConsoleLogger } from '@anew/core/log';

export type Command = (args: string[], log: ConsoleLogger) => Promise<number>;

/**
 * Prints command results on stdout as name=value lines (what the action would
 * output), for scripts; a multi-line output is joined with commas.
 */
export function printOutputs(outputs: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(outputs))
    if (v !== undefined) process.stdout.write(`${k}=${v.split('\n').join(',')}\n`);
}
