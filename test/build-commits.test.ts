import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './helpers/action.ts';
import { services } from './helpers/services.ts';

/**
 * The cache across commits: a repository whose later commits leave the
 * image's inputs alone builds nothing again. The defaulted source-date-epoch
 * (the commit time) and the revision label say when and from which commit,
 * not what is built, so the inputs-digest leaves them out; the hit is the
 * image first built from these bytes, labelled with the commit it was built
 * from.
 */
let repo: string;
const git = (...args: string[]) =>
  execFileSync('git', ['-C', repo, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'anew',
      GIT_AUTHOR_EMAIL: 'anew@example.com',
      GIT_COMMITTER_NAME: 'anew',
      GIT_COMMITTER_EMAIL: 'anew@example.com',
    },
  }).trim();

/** A commit at a given time, so the commit times (the default epoch) differ for certain. */
function commit(message: string, when: number): string {
  git('add', '-A');
  execFileSync('git', ['-C', repo, 'commit', '-qm', message], {
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'anew',
      GIT_AUTHOR_EMAIL: 'anew@example.com',
      GIT_COMMITTER_NAME: 'anew',
      GIT_COMMITTER_EMAIL: 'anew@example.com',
      GIT_AUTHOR_DATE: `@${when} +0000`,
      GIT_COMMITTER_DATE: `@${when} +0000`,
    },
  });
  return git('rev-parse', 'HEAD');
}

beforeAll(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-commits-'));
  git('init', '-q');
  fs.mkdirSync(path.join(repo, 'site'));
  fs.writeFileSync(path.join(repo, 'site/index.html'), '<h1>one</h1>\n');
  fs.writeFileSync(path.join(repo, 'README.md'), 'not part of the image\n');
});
afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));

describe('build across commits', () => {
  const image = `${services.registry}/anew-commits/site-${process.pid}`;
  const build = (sha: string, extra: Record<string, string> = {}) =>
    runAction(
      'build',
      { image, context: repo, files: 'site/:/www/', cmd: '["/www"]', ...extra },
      { env: { GITHUB_SHA: sha, GITHUB_REPOSITORY: 'acme/site', GITHUB_SERVER_URL: 'https://github.com' } },
    );
  const revisionOf = (digest: string) => {
    const config = JSON.parse(
      execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${image}@${digest}`], {
        encoding: 'utf8',
      }),
    );
    return config.config.Labels['org.opencontainers.image.revision'];
  };

  it('hits on a later commit that did not touch the inputs, and misses when they change', async () => {
    const first = commit('one', 1_700_000_000);
    const a = await build(first);
    expect(a.code, a.log).toBe(0);
    expect(a.outputs['cache-hit']).toBe('false');
    expect(revisionOf(a.outputs['digest']!)).toBe(first);

    // A later commit, an hour on, that changes only a file the image does not take.
    fs.writeFileSync(path.join(repo, 'README.md'), 'still not part of the image\n');
    const second = commit('docs', 1_700_003_600);
    const b = await build(second);
    expect(b.code, b.log).toBe(0);
    expect(b.outputs['cache-hit']).toBe('true');
    expect(b.outputs['digest']).toBe(a.outputs['digest']);
    expect(b.outputs['inputs-digest']).toBe(a.outputs['inputs-digest']);
    // The image says where its bytes were built: the first commit.
    expect(revisionOf(b.outputs['digest']!)).toBe(first);

    // A commit that changes the content builds anew, labelled with that commit.
    fs.writeFileSync(path.join(repo, 'site/index.html'), '<h1>two</h1>\n');
    const third = commit('content', 1_700_007_200);
    const c = await build(third);
    expect(c.code, c.log).toBe(0);
    expect(c.outputs['cache-hit']).toBe('false');
    expect(c.outputs['inputs-digest']).not.toBe(a.outputs['inputs-digest']);
    expect(revisionOf(c.outputs['digest']!)).toBe(third);
  });

  it('keeps an epoch or a revision label the user gives in the inputs-digest', async () => {
    const sha = git('rev-parse', 'HEAD');
    const e1 = await build(sha, { 'source-date-epoch': '1600000000' });
    const e2 = await build(sha, { 'source-date-epoch': '1600000001' });
    expect(e1.code, e1.log).toBe(0);
    expect(e2.code, e2.log).toBe(0);
    expect(e2.outputs['inputs-digest']).not.toBe(e1.outputs['inputs-digest']);
    const l1 = await build(sha, { labels: 'org.opencontainers.image.revision=release-1' });
    const l2 = await build(sha, { labels: 'org.opencontainers.image.revision=release-2' });
    expect(l2.outputs['inputs-digest']).not.toBe(l1.outputs['inputs-digest']);
  });
});
