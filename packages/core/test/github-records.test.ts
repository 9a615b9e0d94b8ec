import { getOctokit } from '@actions/github';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ACTIONS_BOT,
  type GitHubApiStandIn,
  HUMAN,
  startGitHubApi,
} from '../../../test/helpers/github-api.ts';
import { isUserError } from '../src/errors/index.ts';
import {
  commentMarker,
  type GitHubApi,
  GitHubRecords,
  nextPageParams,
  type RecordsOptions,
  type RunContext,
} from '../src/github/index.ts';
import { MemoryLogger } from '../src/log/index.ts';

const sha = (i: number) => `${i}`.repeat(40).slice(0, 40);
const digest = (i: number) => `sha256:${`${i}`.repeat(64).slice(0, 64)}`;

/** The client the actions adapter builds: @actions/github's Octokit, pointed at the stand-in. */
function octokit(api: GitHubApiStandIn, token = 'job-token'): GitHubApi {
  const o = getOctokit(token, { baseUrl: api.url });
  return { request: (route, params) => o.request(route, params) as ReturnType<GitHubApi['request']> };
}

const run = (over: Partial<RunContext> = {}): RunContext => ({
  repository: 'acme/web',
  serverUrl: 'https://github.com',
  sha: sha(1),
  runId: '100',
  runAttempt: '1',
  ...over,
});

const release = (i: number, environment: string) => ({
  app: 'web',
  environment,
  release: `r${i}`,
  digest: digest(i),
  target: `web-${environment}-r${i}`,
  commit: sha(i),
});

describe('GitHub records through a real Octokit against the REST API stand-in', () => {
  let api: GitHubApiStandIn;
  let log: MemoryLogger;
  const records = (over: Partial<RecordsOptions> = {}) =>
    new GitHubRecords({ api: octokit(api), run: run(), log, ...over });

  beforeEach(async () => {
    // Every commit's own checks are still pending, as they are while the run that deploys it goes on.
    api = await startGitHubApi({ pullRequests: [7], pendingChecks: [1, 2, 3, 4].map(sha) });
    log = new MemoryLogger();
  });
  afterEach(() => api.close());

  it('a pull request opened, pushed twice and closed: one comment updated each time, one deployment per push, all inactive at the end', async () => {
    // A long discussion first: the preview comment lands on the second page of the list.
    const unknown = await getOctokit('human', { baseUrl: api.url })
      .request('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner: 'acme',
        repo: 'web',
        issue_number: 7,
      })
      .catch((e) => e);
    expect(unknown.status).toBe(401); // a token the API does not know
    api.tokens['human'] = { user: HUMAN, write: ['issues'] };
    const human = getOctokit('human', { baseUrl: api.url });
    for (let i = 0; i < 120; i++)
      await human.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner: 'acme',
        repo: 'web',
        issue_number: 7,
        body: `comment ${i}`,
      });
    const before = api.requests.length;

    const url = 'https://pr-7.preview.example.test';
    for (const i of [1, 2, 3]) {
      const r = new GitHubRecords({ api: octokit(api), run: run({ runId: `${100 + i}`, sha: sha(i) }), log });
      const rec = release(i, 'pr-7');
      expect(await r.started(rec)).toBeTypeOf('number');
      expect(await r.live({ ...rec, url })).toBeTypeOf('number');
      await r.comment({
        app: 'web',
        environment: 'pr-7',
        pullRequest: 7,
        url,
        digest: rec.digest,
        commit: rec.commit,
        provenance: 'verified',
      });
    }
    const closing = new GitHubRecords({ api: octokit(api), run: run({ runId: '200' }), log });
    expect(await closing.retired('pr-7', 'all')).toHaveLength(1);
    await closing.comment({
      app: 'web',
      environment: 'pr-7',
      pullRequest: 7,
      digest: digest(3),
      removed: true,
    });

    const mine = api.requests.slice(before);
    // Comments: created once, then only updated (twice for the pushes, once for the close).
    expect(mine.filter((r) => r.method === 'POST' && r.path.endsWith('/comments'))).toHaveLength(1);
    expect(mine.filter((r) => r.method === 'PATCH')).toHaveLength(3);
    // Each look-up read both pages of the 121 comments.
    expect(
      mine.some((r) => r.method === 'GET' && r.path.endsWith('/comments') && r.query['page'] === '2'),
    ).toBe(true);
    const marked = api.comments.get(7)!.filter((c) => c.body.startsWith(commentMarker('web', 'pr-7')));
    expect(marked).toHaveLength(1);
    expect(marked[0]!.user.login).toBe(ACTIONS_BOT.login);
    expect(marked[0]!.body).toContain('was removed');
    expect(marked[0]!.body).toContain(digest(3));
    // The body after the last push, as the reviewers saw it.
    const lastPush = mine.filter((r) => r.method === 'PATCH').at(-2)!.body.body as string;
    expect(lastPush).toContain(`[${url}/](${url}/)`);
    expect(lastPush).toContain(digest(3));
    expect(lastPush).toContain(sha(3));
    expect(lastPush).toContain('verified');
    expect(lastPush).not.toContain(digest(2));

    // Deployments: one per push, transient, with GitHub's own checks out of the way.
    const creates = mine.filter((r) => r.method === 'POST' && r.path === '/repos/acme/web/deployments');
    expect(creates).toHaveLength(3);
    for (const [i, c] of creates.entries()) {
      expect(c.status).toBe(201);
      expect(c.body).toMatchObject({
        ref: sha(i + 1),
        environment: 'pr-7',
        required_contexts: [],
        auto_merge: false,
        transient_environment: true,
        production_environment: false,
        payload: { anew: { release: `r${i + 1}`, digest: digest(i + 1), target: `web-pr-7-r${i + 1}` } },
      });
    }
    expect(api.deployments).toHaveLength(3);
    for (const [i, d] of api.deployments.entries()) {
      const states = api.statusesOf(d.id).map((s) => s.state);
      expect(states).toEqual(['in_progress', 'success', 'inactive']);
      const success = api.statusesOf(d.id)[1]!;
      expect(success.environment_url).toBe(url);
      expect(success.log_url).toBe(`https://github.com/acme/web/actions/runs/${101 + i}/attempts/1`);
    }
    // The replaced ones went inactive when the next one went live, the last when the pull request closed.
    const inactivated = mine.filter((r) => r.method === 'POST' && r.body?.state === 'inactive');
    expect(inactivated.map((r) => r.path)).toEqual(
      api.deployments.map((d) => `/repos/acme/web/deployments/${d.id}/statuses`),
    );
    expect(log.text()).not.toMatch(/warning/);
  });

  it('without required_contexts: [] GitHub refuses while the commit has pending checks', async () => {
    const o = getOctokit('job-token', { baseUrl: api.url });
    const err = await o
      .request('POST /repos/{owner}/{repo}/deployments', { owner: 'acme', repo: 'web', ref: sha(1) })
      .catch((e) => e);
    expect(err.status).toBe(409);
  });

  it('a job that declares the environment: anew adds its statuses to the job’s deployment and creates none', async () => {
    const older = api.seedJobDeployment({
      environment: 'staging',
      sha: sha(1),
      ref: 'main',
      runId: '99',
      jobId: 5,
    });
    await getOctokit('job-token', { baseUrl: api.url }).request(
      'POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
      { owner: 'acme', repo: 'web', deployment_id: older.id, state: 'success', auto_inactive: false },
    );
    const job = api.seedJobDeployment({ environment: 'staging', sha: sha(2), ref: 'main', runId: '100' });
    // A later run whose id starts with this one's.
    const other = api.seedJobDeployment({ environment: 'staging', sha: sha(2), ref: 'main', runId: '1001' });
    const r = records();
    const rec = release(2, 'staging');
    expect(await r.started(rec)).toBe(job.id);
    expect(await r.live({ ...rec, url: 'https://staging.example.test' })).toBe(job.id);

    expect(api.writes().filter((w) => w.path === '/repos/acme/web/deployments')).toHaveLength(0);
    expect(api.statusesOf(job.id).map((s) => [s.state, s.environment_url])).toEqual([
      ['queued', ''],
      ['in_progress', ''],
      ['in_progress', ''],
      ['success', 'https://staging.example.test'],
    ]);
    expect(api.statusesOf(older.id).at(-1)!.state).toBe('inactive');
    expect(api.statusesOf(other.id).map((s) => s.state)).toEqual(['queued', 'in_progress']);
    expect(log.text()).toContain(`this job's environment made deployment ${job.id}`);
  });

  it('a job that declares none: anew creates the deployment, once for deploy and flip', async () => {
    api.seedJobDeployment({ environment: 'staging', sha: sha(1), ref: 'main', runId: '42' });
    const rec = release(1, 'staging');
    const id = await records().started(rec);
    expect(await records().live({ ...rec, url: 'http://staging.example.test:8080' })).toBe(id);
    const creates = api.writes().filter((w) => w.path === '/repos/acme/web/deployments');
    expect(creates).toHaveLength(1);
    expect(creates[0]!.body.production_environment).toBe(false);
    expect(api.statusesOf(id!).map((s) => s.state)).toEqual(['in_progress', 'success']);
  });

  it('rollback: a new deployment of the release it returns to, success, the replaced one inactive', async () => {
    const r = records();
    for (const i of [1, 2]) await r.live({ ...release(i, 'production'), url: 'https://example.test' });
    const [d1, d2] = api.deployments;
    expect(d1!.production_environment).toBe(true);
    // GitHub's auto_inactive leaves production alone: anew marked the first one itself.
    expect(api.statusesOf(d1!.id).map((s) => s.state)).toEqual(['success', 'inactive']);

    const back = await r.rolledBack({ ...release(1, 'production'), url: 'https://example.test', from: 'r2' });
    const d3 = api.deployments.find((d) => d.id === back)!;
    expect(d3.sha).toBe(sha(1));
    expect(d3.payload).toMatchObject({ anew: { release: 'r1', digest: digest(1), rollbackFrom: 'r2' } });
    expect(api.statusesOf(d3.id).map((s) => s.state)).toEqual(['success']);
    expect(api.statusesOf(d2!.id).map((s) => s.state)).toEqual(['success', 'inactive']);
    expect(r.notes.at(-1)).toBe(
      `Deployment #${d3.id} of production: success at https://example.test; inactive: #${d2!.id}`,
    );
  });

  it('rollback in a job that declares the environment: the job’s deployment takes it, none is created', async () => {
    await records({ run: run({ runId: '90' }) }).live({
      ...release(1, 'production'),
      url: 'https://example.test',
    });
    const job = api.seedJobDeployment({ environment: 'production', sha: sha(2), ref: 'main', runId: '100' });
    const creates = () => api.writes().filter((w) => w.path === '/repos/acme/web/deployments').length;
    expect(creates()).toBe(1);
    expect(
      await records().rolledBack({ ...release(1, 'production'), url: 'https://example.test', from: 'r2' }),
    ).toBe(job.id);
    expect(creates()).toBe(1);
    expect(api.statusesOf(job.id).at(-1)).toMatchObject({
      state: 'success',
      environment_url: 'https://example.test',
    });
  });

  it('a rollback rewrites the same preview comment with what serves now, from which digest to which', async () => {
    const r = records();
    const preview = { app: 'web', environment: 'pr-7', pullRequest: 7 };
    const first = await r.comment({ ...preview, digest: digest(1), provenance: 'not verified at deploy' });
    await r.comment({ ...preview, digest: digest(2), provenance: 'not verified at deploy' });
    const again = await r.comment({ ...preview, digest: digest(1), rolledBackFrom: digest(2) });
    expect(again).toBe(first);
    const list = api.comments.get(7)!;
    expect(list).toHaveLength(1);
    expect(list[0]!.body).toContain('(rolled back)');
    expect(list[0]!.body).toContain(`| Digest | \`${digest(1)}\` |`);
    expect(list[0]!.body).toContain(`| Rolled back | from \`${digest(2)}\` to \`${digest(1)}\` |`);
    // A later flip drops the rollback line again.
    await r.comment({ ...preview, digest: digest(3) });
    expect(api.comments.get(7)![0]!.body).not.toMatch(/rolled back/i);
    await expect(r.comment({ ...preview, digest: digest(1), rolledBackFrom: 'latest' })).rejects.toThrow(
      /sha256:<64 hex/,
    );
  });

  it('a run for no pull request writes no comment and says so in one line; asked for, it fails', async () => {
    const r = records();
    expect(
      await r.comment({ app: 'web', environment: 'staging', pullRequest: undefined, digest: digest(1) }),
    ).toBe(undefined);
    expect(log.lines).toEqual(['info: Pull-request comment skipped: this run is not for a pull request']);
    expect(api.requests).toHaveLength(0);
    await expect(
      records({ required: { comment: true } }).comment({
        app: 'web',
        environment: 'staging',
        pullRequest: undefined,
        digest: digest(1),
      }),
    ).rejects.toThrow(/asked for, but this run is not for a pull request/);
  });

  it('cleanup of some releases marks only their deployments inactive', async () => {
    const r = records();
    for (const i of [1, 2]) await r.started(release(i, 'pr-7'));
    const [d1, d2] = api.deployments;
    expect(await r.retired('pr-7', ['r1'])).toEqual([d1!.id]);
    expect(api.statusesOf(d2!.id).map((s) => s.state)).toEqual(['in_progress']);
  });

  it('a 403 on a record nobody asked for is a warning naming the permission; asked for, it fails the step', async () => {
    api.tokens['read-only'] = { user: ACTIONS_BOT, write: [] };
    const ro = (required?: RecordsOptions['required']) =>
      new GitHubRecords({ api: octokit(api, 'read-only'), run: run(), log, required });

    expect(await ro().started(release(1, 'staging'))).toBeUndefined();
    expect(await ro().comment({ app: 'web', environment: 'pr-7', pullRequest: 7, digest: digest(1) })).toBe(
      undefined,
    );
    const warnings = log.lines.filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('deployments: write');
    expect(warnings[1]).toContain('pull-requests: write or issues: write');
    expect(api.requests.filter((r) => r.status === 403)).toHaveLength(2);

    const err = await ro({ deployment: true })
      .started(release(1, 'staging'))
      .catch((e) => e);
    expect(isUserError(err)).toBe(true);
    expect(err.message).toMatch(/lacks deployments: write.*HTTP 403/);
    const err2 = await ro({ comment: true })
      .comment({ app: 'web', environment: 'pr-7', pullRequest: 7, digest: digest(1) })
      .catch((e) => e);
    expect(isUserError(err2)).toBe(true);
    expect(err2.message).toContain('pull-requests: write');
    expect(api.deployments).toHaveLength(0);
  });

  it('without a token or outside GitHub: one line says what was skipped, nothing is sent', async () => {
    const r = new GitHubRecords({ api: undefined, run: run(), log });
    expect(await r.started(release(1, 'staging'))).toBeUndefined();
    expect(await r.live(release(1, 'staging'))).toBeUndefined();
    expect(await r.comment({ app: 'web', environment: 'pr-7', pullRequest: 7, digest: digest(1) })).toBe(
      undefined,
    );
    expect(log.lines).toEqual([
      'info: GitHub records skipped (deployments, pull-request comment): no github-token',
    ]);
    expect(r.notes).toEqual(['GitHub records skipped: no github-token']);

    const outside = new GitHubRecords({ api: octokit(api), run: run({ repository: undefined }), log });
    await outside.started(release(1, 'staging'));
    expect(log.lines.at(-1)).toContain('not a GitHub Actions run');
    expect(api.requests).toHaveLength(0);

    const asked = new GitHubRecords({ api: undefined, run: run(), log, required: { deployment: true } });
    await expect(asked.started(release(1, 'staging'))).rejects.toThrow(
      /was asked for, but there is no github-token/,
    );
  });

  it('text from an API error never reaches the summary, and the log masks secrets in it', async () => {
    log.setSecret('s3cr3t-value');
    api.fail('POST', /\/deployments$/, 500, {
      message: 'boom s3cr3t-value\u001b[31m <script>',
      documentation_url: 'x',
    });
    const r = records();
    expect(await r.started(release(1, 'staging'))).toBeUndefined();
    expect(r.notes.join('\n')).not.toContain('boom');
    expect(r.notes).toEqual(['GitHub deployment of r1 to staging: not written (HTTP 500)']);
    expect(log.text()).toContain('GitHub said: boom *** [31m <script>');
    expect(log.text()).not.toContain('s3cr3t-value');
    expect(log.text()).not.toContain('\u001b');
  });

  it('reads at most the bytes and the time it was given', async () => {
    api.tokens['human'] = { user: HUMAN, write: ['issues'] };
    const human = getOctokit('human', { baseUrl: api.url });
    for (let i = 0; i < 101; i++)
      await human.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner: 'acme',
        repo: 'web',
        issue_number: 7,
        body: `comment ${i}`,
      });
    const sent = api.requests.length;
    const small = records({ limits: { maxBytes: 1000 } });
    expect(
      await small.comment({ app: 'web', environment: 'pr-7', pullRequest: 7, digest: digest(1) }),
    ).toBeUndefined();
    expect(log.text()).toMatch(/not sent, 1000 bytes already read/);
    // One page read, then it stopped: no second page and no comment written.
    expect(api.requests.slice(sent).map((r) => `${r.method} ${r.query['page'] ?? '1'}`)).toEqual(['GET 1']);

    // A discussion longer than the pages it may read: it cannot know there is no comment, so it writes none.
    const short = records({ limits: { maxPages: 1 } });
    expect(
      await short.comment({ app: 'web', environment: 'pr-7', pullRequest: 7, digest: digest(1) }),
    ).toBeUndefined();
    expect(log.text()).toMatch(/more comments than anew reads \(1 pages\)/);
    expect(api.writes()).toHaveLength(101);

    const late = records({ limits: { deadlineMs: 0 } });
    expect(await late.started(release(1, 'staging'))).toBeUndefined();
    expect(log.text()).toMatch(/allowed for GitHub records ran out/);
    expect(api.requests.length).toBe(sent + 2);
  });

  it('a marker pasted by someone else is never edited', async () => {
    api.tokens['human'] = { user: HUMAN, write: ['issues'] };
    await getOctokit('human', { baseUrl: api.url }).request(
      'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
      { owner: 'acme', repo: 'web', issue_number: 7, body: `${commentMarker('web', 'pr-7')}\nfake` },
    );
    await records().comment({ app: 'web', environment: 'pr-7', pullRequest: 7, digest: digest(1) });
    const list = api.comments.get(7)!;
    expect(list).toHaveLength(2);
    expect(list[0]!.body).toContain('fake');
    expect(list[1]!.user.login).toBe(ACTIONS_BOT.login);
  });

  it('two runs of one pull request writing at once still leave one comment', async () => {
    const write = (i: number) =>
      records({ run: run({ runId: `${300 + i}` }) }).comment({
        app: 'web',
        environment: 'pr-7',
        pullRequest: 7,
        digest: digest(i),
      });
    await Promise.all([write(1), write(2)]);
    const list = api.comments.get(7)!;
    expect(list).toHaveLength(1);
    expect(list[0]!.body).toMatch(new RegExp(`${digest(1)}|${digest(2)}`));
  });

  it('a rate limit is said as such, not as a missing permission', async () => {
    api.fail(
      'POST',
      /\/deployments$/,
      403,
      { message: 'API rate limit exceeded', documentation_url: 'x' },
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1900000000' },
    );
    expect(await records().started(release(1, 'staging'))).toBeUndefined();
    const warning = log.lines.find((l) => l.startsWith('warning:'))!;
    expect(warning).toContain('rate limited');
    expect(warning).not.toContain('lacks');
  });

  it('refuses a malformed record before sending anything', async () => {
    const r = records();
    await expect(r.started({ ...release(1, 'staging'), digest: 'latest' })).rejects.toThrow(/sha256:<64 hex/);
    await expect(r.started({ ...release(1, 'staging'), commit: 'main' })).rejects.toThrow(/full hexadecimal/);
    await expect(r.live({ ...release(1, 'staging'), url: 'javascript:alert(1)' })).rejects.toThrow(
      /http\(s\)/,
    );
    await expect(
      r.comment({ app: 'web', environment: 'pr-7', pullRequest: 0, digest: digest(1) }),
    ).rejects.toThrow(/positive whole number/);
    expect(api.requests).toHaveLength(0);
  });

  it('the stand-in paginates as GitHub does: per_page capped at 100, Link with the other parameters kept', async () => {
    api.tokens['human'] = { user: HUMAN, write: ['issues'] };
    const o = getOctokit('human', { baseUrl: api.url });
    for (let i = 0; i < 5; i++)
      await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner: 'acme',
        repo: 'web',
        issue_number: 7,
        body: `c${i}`,
      });
    const list = (page: number, per_page: number) =>
      o.request('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner: 'acme',
        repo: 'web',
        issue_number: 7,
        per_page,
        page,
      });
    const first = await list(1, 2);
    expect((first.data as { body: string }[]).map((c) => c.body)).toEqual(['c0', 'c1']);
    expect(first.headers.link).toBe(
      `<${api.url}/repos/acme/web/issues/7/comments?per_page=2&page=2>; rel="next", <${api.url}/repos/acme/web/issues/7/comments?per_page=2&page=3>; rel="last"`,
    );
    const last = await list(3, 2);
    expect((last.data as { body: string }[]).map((c) => c.body)).toEqual(['c4']);
    expect(last.headers.link).toMatch(/rel="prev".*rel="first"/);
    expect(last.headers.link).not.toContain('rel="next"');
    const all = await list(1, 500);
    expect(all.data).toHaveLength(5);
    expect(all.headers.link).toBeUndefined();
  });

  it('a bad state is GitHub’s 422, a missing deployment its 404', async () => {
    const o = getOctokit('job-token', { baseUrl: api.url });
    const d = await o.request('POST /repos/{owner}/{repo}/deployments', {
      owner: 'acme',
      repo: 'web',
      ref: sha(1),
      required_contexts: [],
    });
    expect(d.status).toBe(201);
    const bad = await o
      .request('POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
        owner: 'acme',
        repo: 'web',
        deployment_id: (d.data as { id: number }).id,
        state: 'done' as 'success',
      })
      .catch((e) => e);
    expect(bad.status).toBe(422);
    expect(bad.response.data.errors[0].field).toBe('state');
    const missing = await o
      .request('GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
        owner: 'acme',
        repo: 'web',
        deployment_id: 1,
      })
      .catch((e) => e);
    expect(missing.status).toBe(404);
  });
});

describe('Link header', () => {
  it('takes the next page’s query and ignores the other relations', () => {
    expect(
      nextPageParams(
        '<https://api.github.com/repositories/1/deployments?per_page=2&page=1>; rel="prev", <https://api.github.com/repositories/1/deployments?per_page=2&page=3>; rel="next", <https://api.github.com/x?page=9>; rel="last"',
      ),
    ).toEqual({ per_page: '2', page: '3' });
    expect(nextPageParams('<https://x/?page=1>; rel="first"')).toBeUndefined();
    expect(nextPageParams(undefined)).toBeUndefined();
  });
});
