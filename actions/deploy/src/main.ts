import path from 'node:path';
import type { ActionDefinition, InputReader } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import { POLICY_KEYS, readVerifyPolicy } from '@anew/action/policy';
import type { Settings } from '@anew/core/config';
import { runContextFromEnv } from '@anew/core/github';
import type { VerifyPolicy } from '@anew/core/provenance';
import type { Digest, Reference } from '@anew/core/ref';
import { type Credential, RegistryClient } from '@anew/core/registry';
import { deploy, withInfra } from '@anew/core/release';
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
}

export type DeployOutputs = { target: string; url: string; release: string };

/** Every input but the image (ship reads these before build has made the image). */
export function parseRest(r: InputReader): Omit<DeployInputs, 'image'> {
  const { environment, app, settings } = readEnvironment(r, 'deploy');
  // Any policy input asks for verification, as require-provenance does (the issuer alone has a default).
  const policyGiven = POLICY_KEYS.some((k) => r.given(k));
  const policy = settings['require-provenance'] || policyGiven ? readVerifyPolicy(r) : undefined;
  return {
    environment,
    app,
    settings,
    dryRun: r.bool('dry-run'),
    policy,
    registry: r.credential('registry-username', 'registry-password'),
  };
}

export function parse(r: InputReader): DeployInputs {
  return { image: r.pinnedImage('image'), ...parseRest(r) };
}

const action: ActionDefinition<DeployInputs, DeployOutputs> = {
  ...spec,
  parse,
  async main(inputs, { log, summary, jobDir }) {
    const { policy } = inputs;
    return withInfra(inputs.settings, log, async (infra) => {
      const result = await deploy(infra, {
        image: inputs.image,
        app: inputs.app,
        environment: inputs.environment,
        settings: inputs.settings,
        run: runContextFromEnv(),
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
              const { verifyImage } = await import('@anew/core/provenance');
              const v = await verifyImage(client, inputs.image, policy, log, {
                cacheDir: path.dirname(jobDir),
              });
              summary.row('Provenance', `verified (${v.manifests.map((m) => m.signer.subject).join(', ')})`);
            }
          : undefined,
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
      if (!result.dryRun)
        summary.note('The new target is healthy and takes no traffic yet: run anew/flip to move traffic.');
      return { target: result.target, url: result.url, release: result.release };
    });
  },
};

export default action;
