import fs from 'node:fs';
import { UserError } from '@anew/core/errors';
import { GitHubRecords, type PreviewComment, type RunContext, runContextFromEnv } from '@anew/core/github';
import type { Logger } from '@anew/core/log';
import { githubApi } from './github-client.ts';

/** What the run's event says that anew acts on, read from the payload at GITHUB_EVENT_PATH. */
export interface RunEvent {
  name?: string;
  /** e.g. opened, synchronize, closed. */
  action?: string;
  /** The pull request the run is for, when the event names one. */
  pullRequest?: number;
  /** The repository the code comes from and the one the run belongs to, when the event carries both. */
  head?: string;
  base?: string;
}

/** GitHub's event payloads are small; a bigger file is not one. */
const MAX_EVENT = 8 * 1024 * 1024;

type Json = Record<string, unknown> | undefined;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;

/**
 * The event of this run. Only data: its fields are compared and passed to
 * the API as values, never put into a command line. Outside Actions, or
 * without a readable payload, only the name (if any) is known.
 */
export function readEvent(env: NodeJS.ProcessEnv = process.env, log?: Logger): RunEvent {
  const name = str(env['GITHUB_EVENT_NAME']);
  const file = str(env['GITHUB_EVENT_PATH']);
  if (!name || !file) return { name };
  let payload: Json;
  try {
    if (fs.statSync(file).size > MAX_EVENT) throw new Error(`larger than ${MAX_EVENT} bytes`);
    payload = obj(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (e) {
    log?.debug(`the event payload was not read: ${e instanceof Error ? e.message : String(e)}`);
    return { name };
  }
  const baseRepo = str(obj(payload?.['repository'])?.['full_name']);
  if (name === 'pull_request' || name === 'pull_request_target') {
    const pr = obj(payload?.['pull_request']);
    const headRepo = obj(obj(pr?.['head'])?.['repo']);
    return {
      name,
      action: str(payload?.['action']),
      pullRequest: num(pr?.['number']) ?? num(payload?.['number']),
      // A fork deleted since the pull request opened has no head repository: a fork all the same.
      head: str(headRepo?.['full_name']) ?? '(a deleted repository)',
      base: str(obj(obj(pr?.['base'])?.['repo'])?.['full_name']) ?? baseRepo,
    };
  }
  if (name === 'workflow_run') {
    const run = obj(payload?.['workflow_run']);
    const prs = Array.isArray(run?.['pull_requests']) ? (run['pull_requests'] as unknown[]) : [];
    return {
      name,
      action: str(payload?.['action']),
      pullRequest: num(obj(prs[0])?.['number']),
      head: str(obj(run?.['head_repository'])?.['full_name']) ?? '(a deleted repository)',
      base: str(obj(run?.['repository'])?.['full_name']) ?? baseRepo,
    };
  }
  return { name, action: str(payload?.['action']) };
}

/** Events that run with the base repository's token and secrets whatever the head is. */
const PRIVILEGED = new Set(['pull_request_target', 'workflow_run']);

/**
 * Refuses to deploy a fork's code from an event that runs with the base
 * repository's write token and secrets, unless the workflow says so.
 */
export function checkFork(event: RunEvent, allowFork: boolean, input = 'allow-fork'): void {
  if (!event.name || !PRIVILEGED.has(event.name) || !event.head || !event.base) return;
  if (event.head.toLowerCase() === event.base.toLowerCase() || allowFork) return;
  throw new UserError(
    `this ${event.name} run would deploy code from the fork ${event.head}, with the token and secrets of ${event.base}; nothing was deployed`,
    `Deploy pull requests from forks with a pull_request workflow (a read-only token, no secrets), or set ${input}: true once a person has reviewed the change (e.g. an environment with required reviewers)`,
  );
}

/** The GitHub records of this run, from the job's token (none: every record is skipped, said once). */
export function githubRecords(token: string | undefined, log: Logger, run: RunContext = runContextFromEnv()) {
  return new GitHubRecords({ api: githubApi(token), run, log });
}

/** What serves an environment now, as flip and rollback tell the pull request. */
export type LiveComment = Pick<
  PreviewComment,
  'app' | 'environment' | 'url' | 'digest' | 'commit' | 'rolledBackFrom'
> & {
  /** deploy's gate result, carried by the release; none ran when absent. */
  provenance: string | undefined;
};

/**
 * The one way flip and rollback write the preview comment: on a run for a
 * pull request, its sticky comment for this environment says what is live
 * now; on any other run, one line says it was skipped.
 */
export function commentLive(
  records: GitHubRecords,
  live: LiveComment,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const { pullRequest } = readEvent(env, log);
  return records.comment({ ...live, provenance: live.provenance ?? 'not verified at deploy', pullRequest });
}
