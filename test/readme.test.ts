import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answer } from './fixtures/apps/world.ts';
import { type MockSigstore, startMockSigstore } from './fixtures/sigstore/mock-sigstore.ts';
import { repoRoot, runAction } from './helpers/action.ts';
import { freePort, services } from './helpers/services.ts';
import { runSteps, stepsOf, type WorkflowContext } from './helpers/workflow-runner.ts';

/**
 * The README's workflow examples, run as written by a small stand-in of the
 * runner (test/helpers/workflow-runner.ts): every step, in order, with its
 * `${{ … }}` expressions, through the committed bundles. The workspace is a
 * repository with the site, busybox and an anew.yml that says where the
 * engine and the router are (as a user's repository would); ghcr.io is the
 * test registry and Sigstore's public instance the loopback mock.
 */
const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const yamlBlocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const stepByStep = yamlBlocks.find((b) => b.includes('anew-dev/anew/actions/flip@'))!;
const oneStep = yamlBlocks.find((b) => b.includes('uses: anew-dev/anew@'))!;

let sigstore: MockSigstore;
let workspace: string;
let port: number;
const repository = `acme/readme-${process.pid}`;
const app = `readme-${process.pid}`;

function context(sha: string): WorkflowContext {
  const workflowRef = `${repository}/.github/workflows/release.yml@refs/heads/main`;
  return {
    github: { repository, sha, actor: 'octocat', ref: 'refs/heads/main' },
    secrets: { GITHUB_TOKEN: 'not-used-here' },
    workspace,
    hosts: { 'ghcr.io': services.registry },
    env: {
      GITHUB_REPOSITORY: repository,
      GITHUB_SHA: sha,
      GITHUB_REF: 'refs/heads/main',
      GITHUB_WORKFLOW_REF: workflowRef,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_RUN_ID: '42',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_EVENT_NAME: 'push',
      RUNNER_ENVIRONMENT: 'github-hosted',
      GITHUB_API_URL: 'http://127.0.0.1:9', // nothing answers: no GitHub call may be needed
      DOCKER_HOST: services.dockerHost,
      ...sigstore.oidcEnv({
        sub: `https://github.com/${workflowRef}`,
        job_workflow_ref: workflowRef,
        repository,
        ref: 'refs/heads/main',
        sha,
      }),
    },
    // Sigstore's public instance cannot be reached here: the loopback mock stands in for it.
    extraInputs: {
      attest: { 'fulcio-url': sigstore.url, 'rekor-url': sigstore.url },
      deploy: { 'trusted-root': sigstore.trustedRootPath },
      ship: { 'fulcio-url': sigstore.url, 'rekor-url': sigstore.url },
    },
  };
}

beforeAll(async () => {
  sigstore = await startMockSigstore();
  port = await freePort();
  workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-readme-'));
  fs.mkdirSync(path.join(workspace, 'site'));
  fs.writeFileSync(path.join(workspace, 'site/index.html'), '<h1>readme</h1>\n');
  fs.writeFileSync(path.join(workspace, 'site/healthz'), 'ok\n');
  fs.copyFileSync('/bin/busybox', path.join(workspace, 'busybox'));
  fs.writeFileSync(
    path.join(workspace, 'anew.yml'),
    [
      `app: ${app}`,
      'defaults:',
      `  router-url: ${services.caddyAdmin}`,
      `  listen: 127.0.0.1:${port}`,
      '  keep: 1',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await runAction(
    'cleanup',
    { environment: 'production', all: 'true' },
    { cwd: workspace, env: { DOCKER_HOST: services.dockerHost } },
  );
  await sigstore?.stop();
  fs.rmSync(workspace, { recursive: true, force: true });
});

describe('README workflow examples, run as written', () => {
  it('step by step: build, attest, deploy behind the provenance gate, smoke test, canary flip', async () => {
    const results = await runSteps(stepsOf(stepByStep), context('1'.repeat(40)));
    expect(results.map((r) => r.skipped ?? 'ran')).toEqual([
      'the test laid out the workspace',
      'the test registry needs no login',
      'ran',
      'ran',
      'ran',
      'ran',
      'ran',
    ]);
    const deploy = results.find((r) => r.id === 'deploy')!.run!;
    expect(deploy.log).toMatch(/Provenance|verified/i);
    const site = await answer(`http://127.0.0.1:${port}/`);
    expect(site).toBe('200 <h1>readme</h1>');
    // The tag the example asks for points at the built digest.
    const built = results.find((r) => r.id === 'build')!.run!.outputs;
    const tagged = execFileSync(
      'skopeo',
      [
        'inspect',
        '--tls-verify=false',
        '--format',
        '{{.Digest}}',
        `docker://${services.registry}/${repository}:sha-${'1'.repeat(40)}`,
      ],
      { encoding: 'utf8' },
    ).trim();
    expect(tagged).toBe(built['digest']);
  });

  it('in one step with the root action', async () => {
    fs.writeFileSync(path.join(workspace, 'site/index.html'), '<h1>readme, shipped</h1>\n');
    const results = await runSteps(stepsOf(oneStep), context('2'.repeat(40)));
    expect(results.at(-1)!.run!.outputs['release']).toBeTruthy();
    expect(await answer(`http://127.0.0.1:${port}/`)).toBe('200 <h1>readme, shipped</h1>');
  });
});
