import { getOctokit } from '@actions/github';
import type { GitHubApi } from '@anew/core/github';

/**
 * The core's GitHub client, from the job's token: @actions/github's Octokit,
 * which takes its address from GITHUB_API_URL (GitHub Enterprise Server) and
 * the runner's proxy settings. Undefined without a token: the records are
 * then skipped, and the core says so once.
 */
export function githubApi(
  token: string | undefined,
  options: { baseUrl?: string } = {},
): GitHubApi | undefined {
  if (!token) return undefined;
  const octokit = getOctokit(token, options.baseUrl ? { baseUrl: options.baseUrl } : {});
  return {
    request: (route, params) => octokit.request(route, params) as ReturnType<GitHubApi['request']>,
  };
}
