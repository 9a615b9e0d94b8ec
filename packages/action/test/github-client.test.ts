import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHubApiStandIn, startGitHubApi } from '../../../test/helpers/github-api.ts';

describe('the GitHub client the actions build from a token', () => {
  let api: GitHubApiStandIn;
  beforeAll(async () => {
    api = await startGitHubApi();
    // As on GitHub Enterprise Server: the runner sets GITHUB_API_URL, and @actions/github reads it when loaded.
    process.env['GITHUB_API_URL'] = api.url;
  });
  afterAll(async () => {
    delete process.env['GITHUB_API_URL'];
    await api.close();
  });

  it('is undefined without a token, and otherwise talks to GITHUB_API_URL with the token', async () => {
    const { githubApi } = await import('../src/github-client.ts');
    expect(githubApi(undefined)).toBeUndefined();
    expect(githubApi('')).toBeUndefined();
    const res = await githubApi('job-token')!.request('GET /repos/{owner}/{repo}/deployments', {
      owner: 'acme',
      repo: 'web',
    });
    expect(res.status).toBe(200);
    expect(res.data).toEqual([]);
    expect(api.requests).toMatchObject([
      { method: 'GET', path: '/repos/acme/web/deployments', authorization: 'token job-token' },
    ]);
  });
});
