import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkFork, readEvent } from '../src/github.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-event-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The run's variables with the payload written where the runner writes it. */
function env(name: string, payload: unknown): NodeJS.ProcessEnv {
  const file = path.join(dir, `${name}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, typeof payload === 'string' ? payload : JSON.stringify(payload));
  return { GITHUB_EVENT_NAME: name, GITHUB_EVENT_PATH: file };
}

const pr = (head: string | null, number = 7) => ({
  action: 'synchronize',
  number,
  pull_request: {
    number,
    head: { repo: head === null ? null : { full_name: head } },
    base: { repo: { full_name: 'acme/web' } },
  },
  repository: { full_name: 'acme/web' },
});

const run = (head: string | null, prs: number[] = []) => ({
  action: 'completed',
  workflow_run: {
    head_repository: head === null ? null : { full_name: head },
    repository: { full_name: 'acme/web' },
    pull_requests: prs.map((number) => ({ number })),
  },
  repository: { full_name: 'acme/web' },
});

describe('the run event', () => {
  it('gives the pull request number of pull_request, pull_request_target and workflow_run events', () => {
    expect(readEvent(env('pull_request', pr('acme/web', 42)))).toMatchObject({
      pullRequest: 42,
      action: 'synchronize',
    });
    expect(readEvent(env('pull_request_target', pr('acme/web', 43))).pullRequest).toBe(43);
    expect(readEvent(env('workflow_run', run('acme/web', [44]))).pullRequest).toBe(44);
    expect(readEvent(env('push', { repository: { full_name: 'acme/web' } })).pullRequest).toBeUndefined();
    // A payload that cannot be read gives the name only.
    expect(readEvent(env('pull_request', '{not json'))).toEqual({ name: 'pull_request' });
    expect(readEvent({})).toEqual({ name: undefined });
  });

  it.each([
    ['pull_request_target', pr('mallory/web'), true],
    ['pull_request_target', pr(null), true],
    ['pull_request_target', pr('Acme/Web'), false],
    ['workflow_run', run('mallory/web'), true],
    ['workflow_run', run(null), true],
    ['workflow_run', run('acme/web'), false],
    // A fork's pull_request run has a read-only token and no secrets: GitHub already keeps it harmless.
    ['pull_request', pr('mallory/web'), false],
    ['push', { repository: { full_name: 'acme/web' } }, false],
  ] as const)('%s from %j: refused %s', (name, payload, refused) => {
    const event = readEvent(env(name, payload));
    const attempt = () => checkFork(event, false);
    if (refused) expect(attempt).toThrow(/would deploy code from the fork .* nothing was deployed/);
    else expect(attempt).not.toThrow();
    // allow-fork: true lets it through.
    expect(() => checkFork(event, true)).not.toThrow();
  });
});
