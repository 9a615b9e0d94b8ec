import { type ActionDefinition, input } from '@anew/action';
import { readEnvironment } from '@anew/action/environment';
import { readVerifyPolicy } from '@anew/action/policy';
import type { Settings } from '@anew/core/config';
import { runContextFromEnv } from '@anew/core/github';
import type { VerifyPolicy } from '@anew/core/provenance';
import type { Digest, Reference } from '@anew/core/ref';
import { type Credential, RegistryClient } from '@anew/core/registry';
import { deploy, infraFor } from '@anew/core/release';

interface Inputs {
  image: Reference & { digest: Digest };
  environment: string;
  app: string;
  settings: Settings;
  'dry-run': boolean;
  /** The provenance policy, when require-provenance or any policy input asks for verification. */
  policy: VerifyPolicy | undefined;
  registry: Credential | undefined;
}

const POLICY_INPUTS = [
  'public-key',
  'certificate-identity',
  'certificate-identity-regexp',
  'source-repository',
  'source-ref',
  'builder-id',
  'trusted-root',
] as const;

const action: ActionDefinition<Inputs> = {
  name: 'deploy',
  readInputs() {
    const image = input.pinnedImage('image');
    const { environment, app, settings } = readEnvironment([
      'target',
      'docker-host',
      'network',
      'port',
      'env',
      'health-path',
      'health-timeout',
      'keep',
      'memory',
      'cpus',
      'replicas',
      'constraints',
      'require-provenance',
      'router-url',
    ]);
    // Any policy input asks for verification, as require-provenance does (the issuer alone has a default).
    const policyGiven = POLICY_INPUTS.some((k) => input.optional(k) !== undefined);
    const policy = settings['require-provenance'] || policyGiven ? readVerifyPolicy() : undefined;
    input.optional('certificate-oidc-issuer');
    const registry = input.credential('registry-username', 'registry-password');
    input.secret('github-token');
    return {
      image,
      environment,
      app,
      settings,
      'dry-run': input.bool('dry-run', false),
      policy,
      registry,
    };
  },
  async main(inputs, { log, summary }) {
    const { policy } = inputs;
    const infra = infraFor(inputs.settings, log);
    const result = await deploy(infra, {
      image: inputs.image,
      app: inputs.app,
      environment: inputs.environment,
      settings: inputs.settings,
      run: runContextFromEnv(),
      dryRun: inputs['dry-run'],
      registryAuth: inputs.registry && { registry: inputs.image.registry, ...inputs.registry },
      // The provenance gate: the same verification as anew/verify, before anything starts.
      verify: policy
        ? async () => {
            const client = new RegistryClient({
              log,
              credentials: inputs.registry ? { [inputs.image.registry]: inputs.registry } : undefined,
            });
            const tmp = process.env['RUNNER_TEMP'] || '/tmp';
            // Loaded only when asked for: Sigstore's verifier is most of this action's code.
            const { verifyImage } = await import('@anew/core/provenance');
            const v = await verifyImage(client, inputs.image, policy, log, { cacheDir: tmp });
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
  },
};

export default action;
