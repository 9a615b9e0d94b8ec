import * as github from '@actions/github';
import { UserError } from '@anew/core/errors';
import type { Logger } from '@anew/core/log';

/**
 * Stores the bundle through GitHub's attestations API, where
 * `gh attestation verify` finds it without a registry. The same request
 * @actions/attest makes (it does not export it on its own).
 */
/** A bundle as JSON, the body GitHub expects. */
type BundleJson = {
  mediaType?: string;
  verificationMaterial?: Record<string, unknown>;
  dsseEnvelope?: Record<string, unknown>;
};

export async function storeGithubAttestation(
  bundle: BundleJson,
  token: string,
  log: Logger,
): Promise<string> {
  const { owner, repo } = github.context.repo;
  const octokit = github.getOctokit(token);
  try {
    const res = await octokit.request('POST /repos/{owner}/{repo}/attestations', { owner, repo, bundle });
    const id = String((res.data as { id?: number | string }).id ?? '');
    log.info(`stored as attestation ${id} of ${owner}/${repo}`);
    return id;
  } catch (e) {
    throw new UserError(
      `GitHub did not store the attestation: ${(e as Error).message}`,
      'The job needs `permissions: attestations: write` (and a public repository, or a plan with private attestations)',
    );
  }
}
