// A signing key and the variables of a GitHub job, for the bench's attest runs
// (the same as test/fixtures/sigstore/workflow-env.ts, which a .mjs cannot import).
import crypto from 'node:crypto';

export function newKeyPair() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function workflowEnv() {
  return {
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'org/app',
    GITHUB_WORKFLOW_REF: 'org/app/.github/workflows/release.yml@refs/heads/main',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_SHA: 'a'.repeat(40),
    GITHUB_EVENT_NAME: 'push',
    GITHUB_RUN_ID: '1',
    GITHUB_RUN_ATTEMPT: '1',
    RUNNER_ENVIRONMENT: 'github-hosted',
  };
}
