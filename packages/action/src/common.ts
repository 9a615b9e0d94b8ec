import type { InputSpecs } from './spec.ts';

/** Inputs that several actions declare alike. */

export const appInputs: InputSpecs = {
  app: {
    description: 'Application name; default: anew.yml "app", else the repository name.',
    group: 'Environment',
    max: 63,
  },
  config: {
    description: 'Path of the anew.yml file. Its values are defaults; inputs override them.',
    default: 'anew.yml',
    group: 'Environment',
  },
};

export const dryRunInput: InputSpecs = {
  'dry-run': {
    description: 'Print the plan and change nothing.',
    default: 'false',
    boolean: true,
    group: 'General',
  },
};

export const registryInputs: InputSpecs = {
  'registry-username': {
    description:
      'User name for the registry. Without it, credentials come from ~/.docker/config.json (as docker/login-action writes it).',
    group: 'Registry',
    max: 256,
  },
  'registry-password': {
    description: 'Password or token for the registry; masked in logs.',
    secret: true,
    env: 'ANEW_REGISTRY_PASSWORD',
    group: 'Registry',
  },
};

export const githubTokenInput: InputSpecs = {
  'github-token': {
    description:
      'Token for the GitHub API: deployments and the pull-request preview comment (deploy, flip, rollback, cleanup), attestations (attest). Empty: those records are skipped.',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an action.yml expression
    runnerDefault: '${{ github.token }}',
    secret: true,
    env: 'GITHUB_TOKEN',
    group: 'GitHub',
  },
};

/** The provenance policy that verify, deploy and promote share (read by readVerifyPolicy). */
export function policyInputs(keyDescription: string): InputSpecs {
  return {
    'public-key': { description: keyDescription, multiline: true, group: 'Provenance policy' },
    'certificate-identity': {
      description: 'Exact identity (the workflow reference, SAN) the signing certificate must carry.',
      group: 'Provenance policy',
    },
    'certificate-identity-regexp': {
      description:
        'Regular expression the whole certificate identity must match (anchored at both ends for you).',
      group: 'Provenance policy',
    },
    'certificate-oidc-issuer': {
      description: 'OIDC issuer of the signing certificate.',
      default: 'https://token.actions.githubusercontent.com',
      group: 'Provenance policy',
    },
    'source-repository': {
      description: 'Repository (owner/name) the provenance must name as its source.',
      group: 'Provenance policy',
    },
    'source-ref': {
      description: 'Git ref (a glob such as refs/tags/v*) the provenance must name.',
      group: 'Provenance policy',
    },
    'source-commit': {
      description:
        'Full git commit hash the provenance must name (and, keyless, its certificate): with source-ref refs/heads/main, a release tag accepts only the main-branch build of the commit it names.',
      max: 64,
      group: 'Provenance policy',
    },
    'builder-id': { description: 'Builder id the provenance must name.', group: 'Provenance policy' },
    'trusted-root': {
      description:
        'Path of a Sigstore trusted root JSON, for a private Sigstore instance. Default: the public-good instance.',
      group: 'Provenance policy',
    },
  };
}
