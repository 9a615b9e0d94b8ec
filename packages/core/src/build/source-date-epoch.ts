import { UserError } from '../errors/index.ts';
import type { Exec } from '../exec/index.ts';

/**
 * The default source-date-epoch: the commit time of HEAD when `dir` is in a
 * git repository (so a rebuild of the same commit gives the same bytes),
 * else 0.
 */
export async function defaultSourceDateEpoch(exec: Exec, dir: string): Promise<number> {
  try {
    const res = await exec.run('git', ['-C', dir, 'log', '-1', '--format=%ct'], {
      quiet: true,
      ignoreReturnCode: true,
    });
    const v = res.stdout.trim();
    return res.code === 0 && /^\d+$/.test(v) ? Number(v) : 0;
  } catch {
    // git not installed: not a repository we can read.
    return 0;
  }
}

export function parseSourceDateEpoch(value: string, what = 'input "source-date-epoch"'): number {
  if (!/^\d{1,11}$/.test(value.trim()))
    throw new UserError(
      `${what} is "${value}", not a number of seconds since 1970`,
      'e.g. 1700000000, or leave it empty for the commit time',
    );
  return Number(value.trim());
}
