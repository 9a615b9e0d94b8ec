import { type ActionDefinition, input } from '@anew/action';
import { environmentSettings, type Settings, settingsFromStrings } from '@anew/core/config';
import { UserError } from '@anew/core/errors';
import { runContextFromEnv } from '@anew/core/github';
import type { Digest, Reference } from '@anew/core/ref';
import { deploy, infraFor } from '@anew/core/release';

interface Inputs {
  image: Reference & { digest: Digest };
  environment: string;
  app: string;
  settings: Settings;
  'dry-run': boolean;
  /** The verify policy inputs that were given (any one asks for verification). */
  policy: Record<string, string>;
  registry: { username: string; password: string } | undefined;
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
    const environment = input.environmentName('environment');
    const image = input.pinnedImage('image');
    const overrides = settingsFromStrings(
      [
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
        'require-provenance',
      ],
      (k) => input.optional(k),
      (k) => `input "${k}"`,
    );
    const { app, settings } = environmentSettings({
      configFile: input.str('config'),
      environment,
      app: input.optional('app'),
      repository: process.env['GITHUB_REPOSITORY'],
      overrides,
    });
    const policy: Record<string, string> = {};
    for (const k of POLICY_INPUTS) {
      const v = input.optional(k);
      if (v !== undefined) policy[k] = v;
    }
    // Only the issuer has a default; it asks for nothing on its own.
    input.optional('certificate-oidc-issuer');
    const username = input.optional('registry-username');
    const password = input.secret('registry-password');
    if ((username === undefined) !== (password === undefined))
      throw new UserError('registry-username and registry-password go together', 'Set both, or neither');
    input.secret('github-token');
    return {
      image,
      environment,
      app,
      settings,
      'dry-run': input.bool('dry-run', false),
      policy,
      registry: username && password ? { username, password } : undefined,
    };
  },
  async main(inputs, { log, summary }) {
    const wantsProvenance = inputs.settings['require-provenance'] || Object.keys(inputs.policy).length > 0;
    // ── Provenance gate call site: verification before deploy lands with the verify action's policy reader.
    if (wantsProvenance)
      throw new UserError(
        'provenance verification before deploy is not available yet in this version of anew/deploy',
        'Remove require-provenance and the policy inputs, or run anew/verify as a step before deploy',
      );
    const infra = infraFor(inputs.settings, log);
    const result = await deploy(infra, {
      image: inputs.image,
      app: inputs.app,
      environment: inputs.environment,
      settings: inputs.settings,
      run: runContextFromEnv(),
      dryRun: inputs['dry-run'],
      registryAuth: inputs.registry && { registry: inputs.image.registry, ...inputs.registry },
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
