import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppImage, removeApp, type TestImage } from './fixtures/apps/images.ts';
import { containers, routeDials, routeOf } from './fixtures/apps/world.ts';
import { runAction, runPost } from './helpers/action.ts';
import {
  ACTIONS_BOT,
  type GitHubApiStandIn,
  type StoredStatus,
  startGitHubApi,
} from './helpers/github-api.ts';
import { freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * A pull request's preview as a workflow runs it, with the committed bundles,
 * the registry, the engine, Caddy and a stand-in of GitHub's REST API: the
 * event payload at GITHUB_EVENT_PATH, the job token, GITHUB_API_URL.
 */
const app = 'e2e-ghpreview';
const repository = 'acme/web';
let images: TestImage[] = [];
let caddy: RunningService & { admin: string };
let gh: GitHubApiStandIn;
let dir: string;
let port: number;
let config: string;

beforeAll(async () => {
  images = ['v1', 'v2', 'v3'].map((version) => buildAppImage(`anew-test/${app}`, { version }));
  caddy = await startCaddy();
  gh = await startGitHubApi({
    repository,
    pullRequests: [42, 43, 44],
    tokens: {
      'job-token': { user: ACTIONS_BOT, write: ['deployments', 'issues', 'pull_requests'] },
      // A job whose `permissions:` leave out deployments and pull requests.
      'read-token': { user: ACTIONS_BOT, write: [] },
    },
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-ghpreview-'));
  port = await freePort();
  config = path.join(dir, 'anew.yml');
  fs.writeFileSync(
    config,
    [
      `app: ${app}`,
      'defaults:',
      `  docker-host: ${services.dockerHost}`,
      `  router-url: ${caddy.admin}`,
      'environments:',
      '  pr-*:',
      `    listen: 127.0.0.1:${port}`,
      '    hosts: "{env}.preview.test"',
      '    keep: 0',
      '  staging:',
      `    listen: 127.0.0.1:${port}`,
      '    hosts: staging.test',
      '  qa:',
      `    listen: 127.0.0.1:${port}`,
      '    hosts: qa.test',
      // Last: the keep test appends to it.
      '  retain:',
      `    listen: 127.0.0.1:${port}`,
      '    hosts: retain.test',
    ].join('\n'),
  );
});

afterAll(async () => {
  removeApp(app, images);
  await caddy?.stop();
  await gh?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The job's environment for one event: a payload file as the runner writes it. */
function job(event: string, payload: unknown, sha: string, runId: string): Record<string, string> {
  const file = path.join(dir, `event-${runId}.json`);
  fs.writeFileSync(file, JSON.stringify(payload));
  return {
    GITHUB_API_URL: gh.url,
    GITHUB_REPOSITORY: repository,
    GITHUB_EVENT_NAME: event,
    GITHUB_EVENT_PATH: file,
    GITHUB_SHA: sha,
    GITHUB_RUN_ID: runId,
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
  };
}

function prEvent(action: string, number: number, head = repository) {
  return {
    action,
    number,
    pull_request: {
      number,
      head: { repo: { full_name: head } },
      base: { repo: { full_name: repository } },
    },
    repository: { full_name: repository },
  };
}

const latest = (s: StoredStatus[]) => [...s].sort((a, b) => b.id - a.id)[0];
const token = { 'github-token': 'job-token' };

describe('a pull-request preview reaches GitHub', () => {
  it('opened, pushed twice and closed: one comment, one deployment per push, inactive when replaced or closed', async () => {
    const url = `http://pr-42.preview.test:${port}`;
    const shas = ['1', '2', '3'].map((c) => c.repeat(40));
    const events = ['opened', 'synchronize', 'synchronize'];
    for (const [i, image] of images.entries()) {
      const env = job('pull_request', prEvent(events[i]!, 42), shas[i]!, `70${i}`);
      const d = await runAction(
        'deploy',
        { image: image.image, environment: 'pr-42', config, ...token },
        { env },
      );
      expect(d.code, d.log).toBe(0);
      const f = await runAction(
        'flip',
        { environment: 'pr-42', target: d.outputs['target']!, config, ...token },
        { env },
      );
      expect(f.code, f.log).toBe(0);
      expect(f.outputs['url']).toBe(url);

      // Exactly one comment, rewritten with this push's digest and the address.
      const comments = gh.comments.get(42) ?? [];
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toContain(image.digest);
      expect(comments[0]!.body).toContain(url);
      expect(comments[0]!.body).toContain(shas[i]);
      // No provenance gate ran at deploy, and the comment says so.
      expect(comments[0]!.body).toContain('not verified at deploy');

      // One deployment per push, success with the URL and the run's log; the one before inactive.
      const mine = gh.deployments.filter((x) => x.environment === 'pr-42');
      expect(mine).toHaveLength(i + 1);
      const dep = mine.find((x) => x.sha === shas[i])!;
      expect(dep.transient_environment).toBe(true);
      expect((dep.payload as { anew: { digest: string } }).anew.digest).toBe(image.digest);
      const states = gh.statusesOf(dep.id).map((s) => s.state);
      expect(states).toContain('in_progress');
      expect(latest(gh.statusesOf(dep.id))).toMatchObject({
        state: 'success',
        environment_url: url,
        log_url: `https://github.com/${repository}/actions/runs/70${i}/attempts/1`,
      });
      for (const old of mine.filter((x) => x !== dep))
        expect(latest(gh.statusesOf(old.id))!.state).toBe('inactive');
    }

    // Closed: containers and route gone, every deployment inactive, the comment says so; twice is the same.
    const closed = job('pull_request', prEvent('closed', 42), shas[2]!, '799');
    for (let run = 0; run < 2; run++) {
      const c = await runAction(
        'cleanup',
        { environment: 'pr-42', all: 'true', config, ...token },
        { env: closed },
      );
      expect(c.code, c.log).toBe(0);
      expect(containers(app).filter((x) => x.name.includes('-pr-42-'))).toEqual([]);
      expect(await routeOf(caddy.admin, app, 'pr-42')).toBeUndefined();
      for (const dep of gh.deployments.filter((x) => x.environment === 'pr-42'))
        expect(latest(gh.statusesOf(dep.id))!.state).toBe('inactive');
      const comments = gh.comments.get(42) ?? [];
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toMatch(/was removed/);
      expect(comments[0]!.body).toContain(images[2]!.digest);
    }
    expect(
      gh.writes().filter((r) => r.method === 'POST' && /\/issues\/42\/comments$/.test(r.path)),
    ).toHaveLength(1);
  });

  it('refuses a fork on pull_request_target before anything starts, unless allow-fork', async () => {
    const env = job('pull_request_target', prEvent('opened', 43, 'mallory/web'), '4'.repeat(40), '800');
    const before = gh.requests.length;
    const d = await runAction(
      'deploy',
      { image: images[0]!.image, environment: 'pr-43', config, ...token },
      { env },
    );
    expect(d.code).not.toBe(0);
    expect(d.log).toMatch(/from the fork mallory\/web.*nothing was deployed/);
    expect(d.log).toMatch(/allow-fork/);
    expect(containers(app).filter((x) => x.name.includes('-pr-43-'))).toEqual([]);
    expect(gh.requests.length).toBe(before);
    // The same repository's own branch on the same event is not a fork.
    const own = job('pull_request_target', prEvent('opened', 43, 'Acme/Web'), '4'.repeat(40), '801');
    const ok = await runAction(
      'deploy',
      { image: images[0]!.image, environment: 'pr-43', config, ...token },
      { env: own },
    );
    expect(ok.code, ok.log).toBe(0);
    const c = await runAction('cleanup', { environment: 'pr-43', all: 'true', config }, { env: own });
    expect(c.code, c.log).toBe(0);
  });

  it('without a token the steps still work and say in one line what they skipped', async () => {
    const env = job('pull_request', prEvent('opened', 43), '5'.repeat(40), '900');
    const before = gh.requests.length;
    const d = await runAction('deploy', { image: images[0]!.image, environment: 'pr-43', config }, { env });
    expect(d.code, d.log).toBe(0);
    expect(d.log.match(/GitHub records skipped.*no github-token/g)).toHaveLength(1);
    const c = await runAction('cleanup', { environment: 'pr-43', all: 'true', config }, { env });
    expect(c.code, c.log).toBe(0);
    expect(gh.requests.length).toBe(before);
  });
});

describe('a rollback on a pull request', () => {
  it('rewrites the one preview comment with the digest it returned to, and from which', async () => {
    const shas = ['a', 'b', 'c'].map((c) => c.repeat(40));
    const events = ['opened', 'synchronize', 'synchronize'];
    const targets: string[] = [];
    for (const [i, image] of images.entries()) {
      const env = job('pull_request', prEvent(events[i]!, 44), shas[i]!, `120${i}`);
      const d = await runAction(
        'deploy',
        { image: image.image, environment: 'pr-44', config, ...token },
        { env },
      );
      expect(d.code, d.log).toBe(0);
      targets.push(d.outputs['target']!);
      const f = await runAction(
        'flip',
        { environment: 'pr-44', target: targets[i]!, config, ...token },
        { env },
      );
      expect(f.code, f.log).toBe(0);
    }
    const comment = () => {
      const list = gh.comments.get(44) ?? [];
      expect(list).toHaveLength(1);
      return list[0]!.body;
    };
    expect(comment()).toContain(images[2]!.digest);

    // A rollback run of the same pull request: the second push serves again, and the comment says so.
    const sync = job('pull_request', prEvent('synchronize', 44), shas[2]!, '1210');
    const r = await runAction('rollback', { environment: 'pr-44', config, ...token }, { env: sync });
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['target']).toBe(targets[1]);
    expect(comment()).toContain(`| Digest | \`${images[1]!.digest}\` |`);
    expect(comment()).toContain(
      `| Rolled back | from \`${images[2]!.digest}\` to \`${images[1]!.digest}\` |`,
    );
    expect(comment()).toContain(`| Commit | \`${shas[1]}\` |`);
    expect(comment()).toContain(`http://pr-44.preview.test:${port}`);
    expect(
      gh.writes().filter((w) => w.method === 'POST' && /\/issues\/44\/comments$/.test(w.path)),
    ).toHaveLength(1);
    // And the deployment of the release it returned to is the environment's one success.
    const live = gh.deployments.filter(
      (x) => x.environment === 'pr-44' && latest(gh.statusesOf(x.id))?.state === 'success',
    );
    expect(live.map((x) => (x.payload as { anew: { digest: string } }).anew.digest)).toEqual([
      images[1]!.digest,
    ]);

    // A token without pull-requests: write: the rollback happens, the comment stays, a warning names it.
    const body = comment();
    const denied = await runAction(
      'rollback',
      { environment: 'pr-44', config, 'github-token': 'read-token' },
      { env: job('pull_request', prEvent('synchronize', 44), shas[2]!, '1211') },
    );
    expect(denied.code, denied.log).toBe(0);
    expect(denied.outputs['target']).toBe(targets[2]);
    expect(denied.log).toMatch(/::warning::.*comment on pull request #44.*pull-requests: write/);
    expect(comment()).toBe(body);

    // A run for no pull request, and a run without a token: one line each says what was skipped.
    const push = job('push', { repository: { full_name: repository } }, shas[2]!, '1212');
    const r2 = await runAction('rollback', { environment: 'pr-44', config, ...token }, { env: push });
    expect(r2.code, r2.log).toBe(0);
    expect(r2.log.match(/Pull-request comment skipped: this run is not for a pull request/g)).toHaveLength(1);
    const before = gh.requests.length;
    const r3 = await runAction('rollback', { environment: 'pr-44', config }, { env: sync });
    expect(r3.code, r3.log).toBe(0);
    expect(r3.log.match(/GitHub records skipped.*no github-token/g)).toHaveLength(1);
    expect(gh.requests.length).toBe(before);
    expect(comment()).toBe(body);

    // Rolled back once more and closed: the removed preview names what served last, not the newest.
    const again = await runAction('rollback', { environment: 'pr-44', config, ...token }, { env: sync });
    expect(again.outputs['target'], again.log).toBe(targets[1]);
    const closed = job('pull_request', prEvent('closed', 44), shas[2]!, '1213');
    const c = await runAction(
      'cleanup',
      { environment: 'pr-44', all: 'true', config, ...token },
      { env: closed },
    );
    expect(c.code, c.log).toBe(0);
    expect(comment()).toMatch(/was removed/);
    expect(comment()).toContain(`| Last digest | \`${images[1]!.digest}\` |`);
  });
});

describe('a token without the permissions', () => {
  it('deploys and flips all the same, with a warning that names the permission', async () => {
    const env = job('pull_request', prEvent('opened', 43), '7'.repeat(40), '1100');
    const read = { 'github-token': 'read-token' };
    const d = await runAction(
      'deploy',
      { image: images[0]!.image, environment: 'pr-43', config, ...read },
      { env },
    );
    expect(d.code, d.log).toBe(0);
    expect(d.log).toMatch(/::warning::.*deployments: write/);
    const f = await runAction(
      'flip',
      { environment: 'pr-43', target: d.outputs['target']!, config, ...read },
      { env },
    );
    expect(f.code, f.log).toBe(0);
    expect(f.log).toMatch(/::warning::.*pull-requests: write/);
    expect(gh.comments.get(43) ?? []).toEqual([]);
    const c = await runAction('cleanup', { environment: 'pr-43', all: 'true', config, ...read }, { env });
    expect(c.code, c.log).toBe(0);
  });
});

describe('a job that declares its environment', () => {
  it("adds anew's statuses to the deployment GitHub made for the job, and makes none of its own", async () => {
    const sha = '6'.repeat(40);
    const commentWrites = () => gh.writes().filter((r) => r.path.includes('/comments')).length;
    const comments = commentWrites();
    const mine = gh.seedJobDeployment({ environment: 'qa', sha, ref: 'main', runId: '1000' });
    const env = job('push', { repository: { full_name: repository } }, sha, '1000');
    const d = await runAction(
      'deploy',
      { image: images[0]!.image, environment: 'qa', config, ...token },
      { env },
    );
    expect(d.code, d.log).toBe(0);
    const f = await runAction(
      'flip',
      { environment: 'qa', target: d.outputs['target']!, config, ...token },
      { env },
    );
    expect(f.code, f.log).toBe(0);
    expect(gh.deployments.filter((x) => x.environment === 'qa').map((x) => x.id)).toEqual([mine.id]);
    const states = gh.statusesOf(mine.id).map((s) => s.state);
    expect(states.filter((s) => s === 'in_progress').length).toBeGreaterThanOrEqual(2);
    expect(latest(gh.statusesOf(mine.id))).toMatchObject({
      state: 'success',
      environment_url: 'http://qa.test:' + port,
    });
    // A push has no pull request: no comment written.
    expect(commentWrites()).toBe(comments);
    await runAction('cleanup', { environment: 'qa', all: 'true', config });
  });
});

describe('a deploy cancelled before its flip', () => {
  it('leaves nothing behind, and never touches what takes traffic', async () => {
    const v1 = await runAction('deploy', { image: images[0]!.image, environment: 'staging', config });
    expect(v1.code, v1.log).toBe(0);
    expect(
      (await runAction('flip', { environment: 'staging', target: v1.outputs['target']!, config })).code,
    ).toBe(0);
    const v2 = await runAction('deploy', { image: images[1]!.image, environment: 'staging', config });
    expect(v2.code, v2.log).toBe(0);
    expect(Object.keys(v2.state)).not.toEqual([]);

    // The job is cancelled now: the post step removes v2 and only v2.
    const post = await runPost('deploy', v2.state);
    expect(post.code, post.log).toBe(0);
    const left = containers(app).filter((x) => x.name.includes('-staging-'));
    expect(left.map((x) => x.name)).toEqual([v1.outputs['target']]);
    expect(await routeDials(caddy.admin, app, 'staging')).toEqual(left.map((x) => x.address));

    // The post step of the deploy whose release serves leaves it alone.
    const again = await runPost('deploy', v1.state);
    expect(again.code, again.log).toBe(0);
    expect(again.log).toMatch(/takes traffic; left as it is/);
    expect(
      containers(app)
        .filter((x) => x.name.includes('-staging-'))
        .map((x) => x.name),
    ).toEqual([v1.outputs['target']]);
  });
});

describe('keep', () => {
  it('never removes the release rollback returns to, whatever was deployed and never flipped since', async () => {
    const env = 'retain';
    const deployOf = async (i: number) => {
      const d = await runAction('deploy', { image: images[i]!.image, environment: env, config, keep: '5' });
      expect(d.code, d.log).toBe(0);
      return d.outputs['target']!;
    };
    const t1 = await deployOf(0);
    expect((await runAction('flip', { environment: env, target: t1, config })).code).toBe(0);
    const t2 = await deployOf(1);
    expect((await runAction('flip', { environment: env, target: t2, config })).code).toBe(0);
    // A release deployed and never flipped (its job was killed): newer than the rollback target.
    const t3 = await deployOf(2);
    // Older than its health timeout (anew.yml's default here is 60 s, so say 0 s for this cleanup).
    fs.appendFileSync(config, '\n    health-timeout: 0s\n');
    try {
      const c = await runAction('cleanup', { environment: env, keep: '1', config });
      expect(c.code, c.log).toBe(0);
      const left = containers(app)
        .filter((x) => x.name.includes(`-${env}-`))
        .map((x) => x.name)
        .sort();
      expect(left).toEqual([t1, t2].sort());
      expect(left).not.toContain(t3);
      const r = await runAction('rollback', { environment: env, config });
      expect(r.code, r.log).toBe(0);
      expect(r.outputs['target']).toBe(t1);
    } finally {
      fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('\n    health-timeout: 0s\n', ''));
      await runAction('cleanup', { environment: env, all: 'true', config });
    }
  });
});
