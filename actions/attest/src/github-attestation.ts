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

const PERMISSION =
  'The job needs `permissions: attestations: write` (and a public repository, or a plan with private attestations)';

/**
 * A write an input asked for (`explicit`) fails the step when GitHub
 * refuses it; one nobody asked for is a warning that names the permission,
 * and the step goes on. Returns the attestation id, or undefined when a
 * write nobody asked for was refused.
 */
export async function storeGithubAttestation(
  bundle: BundleJson,
  token: string,
  log: Logger,
  opts: { explicit: boolean },
): Promise<string | undefined> {
  const { owner, repo } = github.context.repo;
  const octokit = github.getOctokit(token);
  try {
    const res = await octokit.request('POST /repos/{owner}/{repo}/attestations', { owner, repo, bundle });
    const id = String((res.data as { id?: number | string }).id ?? '');
    log.info(`stored as attestation ${id} of ${owner}/${repo}`);
    return id;
  } catch (e) {
    const status = (e as { status?: unknown }).status;
    const answer = typeof status === 'number' ? `answered ${status}` : 'did not answer';
    const why = ((e as Error).message ?? '').replace(/\s+/g, ' ').slice(0, 300);
    const message = `GitHub did not store the attestation: POST /repos/${owner}/${repo}/attestations ${answer} (${why})`;
    if (opts.explicit) throw new UserError(message, PERMISSION);
    log.warning(`${message}. ${PERMISSION}`);
    return undefined;
  }
}
