import path from 'node:path';
import type { ActionDefinition, InputReader } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import { checkFork, githubRecords, readEvent } from '@anew/action/github';
import { POLICY_KEYS, readVerifyPolicy } from '@anew/action/policy';
import type { Settings } from '@anew/core/config';
import { runContextFromEnv } from '@anew/core/github';
import type { VerifyPolicy } from '@anew/core/provenance';
import type { Digest, Reference } from '@anew/core/ref';
import { type Credential, RegistryClient } from '@anew/core/registry';
import { deploy, newReleaseId, targetName, withInfra } from '@anew/core/release';
import { POST_STATE, type PostState } from './post.ts';
import { spec } from './spec.ts';

export interface DeployInputs {
  image: Reference & { digest: Digest };
  environment: string;
  app: string;
  settings: Settings;
  dryRun: boolean;
  /** The provenance policy, when require-provenance or any policy input asks for verification. */
  policy: VerifyPolicy | undefined;
  registry: Credential | undefined;
  githubToken: string | undefined;
}

export type DeployOutputs = { target: string; url: string; release: string };

/** Every input but the image (ship reads these before build has made the image). */
export function parseRest(r: InputReader): Omit<DeployInputs, 'image'> {
  const { environment, app, settings } = readEnvironment(r, 'deploy');
  // Any policy input asks for verification, as require-provenance does (the issuer alone has a default).
  const policyGiven = POLICY_KEYS.some((k) => r.given(k));
  const policy = settings['require-provenance'] || policyGiven ? readVerifyPolicy(r) : undefined;
  // Before anything else: a fork's code on a privileged event is refused unless the workflow allows it.
  checkFork(readEvent(), r.bool('allow-fork'), r.name('allow-fork'));
  return {
    environment,
    app,
    settings,
    dryRun: r.bool('dry-run'),
    policy,
    registry: r.credential('registry-username', 'registry-password'),
    githubToken: r.secret('github-token'),
  };
}

export function parse(r: InputReader): DeployInputs {
  return { image: r.pinnedImage('image'), ...parseRest(r) };
}

const action: ActionDefinition<DeployInputs, DeployOutputs> = {
  ...spec,
  parse,
  async main(inputs, { log, summary, jobDir, saveState }) {
    const { policy } = inputs;
    return withInfra(inputs.settings, log, async (infra) => {
      const run = runContextFromEnv();
      // The release id is made here, so that GitHub and a post step know it before anything starts.
      const release = newReleaseId(new Date());
      const rec = {
        app: inputs.app,
        environment: inputs.environment,
        release,
        digest: inputs.image.digest,
        target: targetName(inputs.app, inputs.environment, inputs.image.digest, release),
      };
      const records = inputs.dryRun ? undefined : githubRecords(inputs.githubToken, log, run);
      if (!inputs.dryRun && saveState) {
        // What the post step needs if the job is cancelled before this release takes traffic.
        // The app's env values stay out: they may be secrets, and removing a target does not need them.
        const state: PostState = { ...rec, settings: { ...inputs.settings, env: {} } };
        saveState(POST_STATE, JSON.stringify(state));
      }
      await records?.started(rec);
      const result = await deploy(infra, {
        release,
        image: inputs.image,
        app: inputs.app,
        environment: inputs.environment,
        settings: inputs.settings,
        run,
        dryRun: inputs.dryRun,
        registryAuth: inputs.registry && { registry: inputs.image.registry, ...inputs.registry },
        // The provenance gate: the same verification as anew/verify, before anything starts.
        verify: policy
          ? async () => {
              const client = new RegistryClient({
                log,
                credentials: inputs.registry ? { [inputs.image.registry]: inputs.registry } : undefined,
              });
              // Loaded only when asked for: Sigstore's verifier is most of this action's code.
              const { verifyImage } = await import('@anew/core/provenance/verify');
              const v = await verifyImage(client, inputs.image, policy, log, {
                cacheDir: path.dirname(jobDir),
              });
              const said = `verified (${v.manifests.map((m) => m.signer.subject).join(', ')})`;
              summary.row('Provenance', said);
              return said;
            }
          : undefined,
      }).catch(async (e: unknown) => {
        // anew's own words for GitHub: the reason, with container logs and paths, stays in the run log.
        await records?.failed(rec, 'the deploy failed; see the run log');
        throw e;
      });
      summary.title = result.dryRun
        ? 'anew/deploy: plan (dry run)'
        : `anew/deploy: ${inputs.app}/${inputs.environment}`;
      summary
        .row('Image', inputs.image.toString())
        .row('Release', result.release)
        .row('Target', result.target)
        .row('Hosts', infra.engines.map((e) => e.id).join(', '))
        .row('URL', result.url);
      for (const n of records?.notes ?? []) summary.note(n);
      if (!result.dryRun)
        summary.note('The new target is healthy and takes no traffic yet: run anew/flip to move traffic.');
      return { target: result.target, url: result.url, release: result.release };
    });
  },
};

export default action;
