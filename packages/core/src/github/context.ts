/**
 * What the core needs to know about the run it is part of, read from the
 * variables GitHub sets (GITHUB_*, RUNNER_*). The core takes this as a plain
 * value, so the CLI can build one from git or flags instead.
 */
export interface RunContext {
  /** owner/name */
  repository?: string;
  serverUrl: string;
  sha?: string;
  ref?: string;
  eventName?: string;
  /** `owner/name/.github/workflows/file.yml@ref`, the workflow this job runs. */
  workflowRef?: string;
  runId?: string;
  runAttempt?: string;
  actor?: string;
  runnerEnvironment?: string;
  workspace?: string;
}

export function runContextFromEnv(env: NodeJS.ProcessEnv = process.env): RunContext {
  const v = (k: string) => (env[k] && env[k] !== '' ? env[k] : undefined);
  return {
    repository: v('GITHUB_REPOSITORY'),
    serverUrl: v('GITHUB_SERVER_URL') ?? 'https://github.com',
    sha: v('GITHUB_SHA'),
    ref: v('GITHUB_REF'),
    eventName: v('GITHUB_EVENT_NAME'),
    workflowRef: v('GITHUB_WORKFLOW_REF'),
    runId: v('GITHUB_RUN_ID'),
    runAttempt: v('GITHUB_RUN_ATTEMPT'),
    actor: v('GITHUB_ACTOR'),
    runnerEnvironment: v('RUNNER_ENVIRONMENT'),
    workspace: v('GITHUB_WORKSPACE'),
  };
}

/** https://github.com/owner/name, when known. */
export function repositoryUrl(ctx: RunContext): string | undefined {
  return ctx.repository ? `${ctx.serverUrl}/${ctx.repository}` : undefined;
}

/** The URL of this workflow run (and attempt), when known. */
export function runUrl(ctx: RunContext): string | undefined {
  if (!ctx.repository || !ctx.runId) return undefined;
  const attempt = ctx.runAttempt ? `/attempts/${ctx.runAttempt}` : '';
  return `${ctx.serverUrl}/${ctx.repository}/actions/runs/${ctx.runId}${attempt}`;
}
