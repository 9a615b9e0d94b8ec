import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheTag } from '@anew/core/build';
import { parseBundle, statementOf } from '@anew/core/provenance';
import { type Digest, parseRepository } from '@anew/core/ref';
import { RegistryClient } from '@anew/core/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockSigstore, startMockSigstore } from './fixtures/sigstore/mock-sigstore.ts';
import { pushTinyImage } from './fixtures/sigstore/tiny-image.ts';
import { newKeyPair, workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { NODE24, runAction } from './helpers/action.ts';
import { services } from './helpers/services.ts';

/**
 * The cache's trust policy. Whoever can push a tag can point
 * `anew-inputs-<hex>` at any image; with `cache-public-key` a hit counts only
 * when the image carries provenance signed with that key for the same
 * inputs-digest, and attest of a reused image says that this run reused it
 * (and which run built it) instead of claiming to have built it.
 */
let repo: string;
const temps: string[] = [];
const gitEnv = {
  GIT_AUTHOR_NAME: 'anew',
  GIT_AUTHOR_EMAIL: 'anew@example.com',
  GIT_COMMITTER_NAME: 'anew',
  GIT_COMMITTER_EMAIL: 'anew@example.com',
};
const git = (...args: string[]) =>
  execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: { ...process.env, ...gitEnv } }).trim();
function commit(message: string, when: number): string {
  git('add', '-A');
  execFileSync('git', ['-C', repo, 'commit', '-qm', message], {
    env: {
      ...process.env,
      ...gitEnv,
      GIT_AUTHOR_DATE: `@${when} +0000`,
      GIT_COMMITTER_DATE: `@${when} +0000`,
    },
  });
  return git('rev-parse', 'HEAD');
}
const runnerTemp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-cache-trust-'));
  temps.push(d);
  return d;
};

beforeAll(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-cache-trust-repo-'));
  temps.push(repo);
  git('init', '-q');
  fs.mkdirSync(path.join(repo, 'site'));
  fs.writeFileSync(path.join(repo, 'site/index.html'), '<h1>one</h1>\n');
  fs.writeFileSync(path.join(repo, 'README.md'), 'not part of the image\n');
});
afterAll(() => {
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});

describe('build with a cache policy', () => {
  const key = newKeyPair();
  const client = new RegistryClient();
  const invocation = (run: string) => `https://github.com/org/app/actions/runs/${run}/attempts/1`;

  /** One job: build then, when asked, attest, in the same RUNNER_TEMP as the runner gives both steps. */
  async function job(
    image: string,
    o: { sha: string; run: string; workflow?: string; policy?: boolean; attest?: boolean; files?: string },
  ) {
    const temp = runnerTemp();
    const env = {
      ...workflowEnv(o.workflow),
      GITHUB_SHA: o.sha,
      GITHUB_RUN_ID: o.run,
      RUNNER_TEMP: temp,
    };
    const b = await runAction(
      'build',
      {
        image,
        context: repo,
        files: o.files ?? 'site/:/www/',
        cmd: '["/www"]',
        ...(o.policy ? { 'cache-public-key': key.publicPem } : {}),
      },
      { env },
    );
    expect(b.code, b.log).toBe(0);
    if (!o.attest) return { build: b };
    const a = await runAction(
      'attest',
      { image: b.outputs['image']!, 'signing-key': key.privatePem },
      { env },
    );
    expect(a.code, a.log).toBe(0);
    const statement = statementOf(parseBundle(fs.readFileSync(a.outputs['bundle-path']!)));
    return { build: b, attest: a, statement };
  }

  /** Points the cache tag of `inputs` at another image, as anyone who can push a tag can. */
  async function plant(image: string, inputs: string, digest: Digest) {
    const repository = parseRepository(image);
    const m = await client.getManifest(repository.withDigest(digest));
    await client.putManifest(repository, m.bytes, m.mediaType, cacheTag(inputs as Digest));
  }

  it('does not reuse a planted image (unattested, or attested for other inputs), says why, and builds', async () => {
    const image = `${services.registry}/anew-cache-trust/planted-${process.pid}`;
    const sha = commit('one', 1_700_000_000);
    const first = await job(image, { sha, run: '2001', policy: true, attest: true });
    expect(first.build.outputs['cache-hit']).toBe('false');
    const inputs = first.build.outputs['inputs-digest']!;
    const genuine = first.build.outputs['digest']! as Digest;

    // An image nobody attested, under the cache tag.
    const tiny = await pushTinyImage(client, parseRepository(image), crypto.randomUUID());
    await plant(image, inputs, tiny.digest);
    const refused = await job(image, { sha, run: '2002', policy: true });
    expect(refused.build.outputs['cache-hit']).toBe('false');
    expect(refused.build.outputs['digest']).toBe(genuine);
    expect(refused.build.log).toContain(
      `Not reusing ${image}:${cacheTag(inputs as Digest)} (${tiny.digest})`,
    );
    expect(refused.build.log).toMatch(/has no attestation of predicate type/);
    // Rebuilt, the cache tag names the genuine image again.
    const back = await client.getManifest(parseRepository(image).withTag(cacheTag(inputs as Digest)));
    expect(back.digest).toBe(genuine);

    // A genuine, attested image of other inputs: its provenance verifies, but for another inputs-digest.
    fs.writeFileSync(path.join(repo, 'other.html'), '<h1>other</h1>\n');
    const other = await job(image, {
      sha,
      run: '2003',
      policy: true,
      attest: true,
      files: 'other.html:/www/',
    });
    expect(other.build.outputs['inputs-digest']).not.toBe(inputs);
    await plant(image, inputs, other.build.outputs['digest'] as Digest);
    const mismatch = await job(image, { sha, run: '2004', policy: true });
    expect(mismatch.build.outputs['cache-hit']).toBe('false');
    expect(mismatch.build.outputs['digest']).toBe(genuine);
    expect(mismatch.build.log).toContain(
      `its verified provenance records inputs-digest ${other.build.outputs['inputs-digest']}, not ${inputs}`,
    );

    // Without a policy the plant is reused, as before, and the log says it was trusted unverified.
    await plant(image, inputs, tiny.digest);
    const trusting = await job(image, { sha, run: '2005' });
    expect(trusting.build.outputs['cache-hit']).toBe('true');
    expect(trusting.build.outputs['digest']).toBe(tiny.digest);
    expect(trusting.build.log).toMatch(/is trusted without verification \(no cache policy/);
  });

  it('hits across commits when the first build was attested; attest of the reuse says so and names the builder', async () => {
    const image = `${services.registry}/anew-cache-trust/commits-${process.pid}`;
    fs.writeFileSync(path.join(repo, 'README.md'), 'first\n');
    const one = commit('first', 1_700_010_000);
    const first = await job(image, { sha: one, run: '3001', policy: true, attest: true });
    expect(first.build.outputs['cache-hit']).toBe('false');
    expect(first.statement!.predicate.buildDefinition.internalParameters.anew.reused).toBeUndefined();

    // A later commit that leaves the image's inputs alone, attested by another workflow (builder).
    fs.writeFileSync(path.join(repo, 'README.md'), 'second\n');
    const two = commit('docs', 1_700_013_600);
    const second = await job(image, {
      sha: two,
      run: '3002',
      workflow: 'deploy.yml',
      policy: true,
      attest: true,
    });
    expect(second.build.outputs['cache-hit']).toBe('true');
    expect(second.build.outputs['digest']).toBe(first.build.outputs['digest']);
    expect(second.build.log).toMatch(/its provenance satisfies the cache policy/);
    const p = second.statement!.predicate;
    expect(p.buildDefinition.internalParameters.anew).toEqual({
      inputsDigest: first.build.outputs['inputs-digest'],
      reused: { invocationId: invocation('3001') },
    });
    expect(p.runDetails.metadata.invocationId).toBe(invocation('3002'));
    expect(second.attest!.log).toMatch(
      /build reused .* names https:\/\/github\.com\/org\/app\/actions\/runs\/3001/,
    );

    // A third reuse still names the run that built the image, whichever attestation verified.
    fs.writeFileSync(path.join(repo, 'README.md'), 'third\n');
    const three = commit('docs again', 1_700_017_200);
    const third = await job(image, {
      sha: three,
      run: '3003',
      workflow: 'other.yml',
      policy: true,
      attest: true,
    });
    expect(third.build.outputs['cache-hit']).toBe('true');
    expect(third.statement!.predicate.buildDefinition.internalParameters.anew.reused).toEqual({
      invocationId: invocation('3001'),
    });
  });
});

describe('a keyless cache policy with cache-trusted-root', () => {
  let sigstore: MockSigstore;
  const client = new RegistryClient();
  const identity = 'https://github\\.com/org/app/\\.github/workflows/.*';
  beforeAll(async () => {
    sigstore = await startMockSigstore();
  });
  afterAll(async () => {
    await sigstore?.stop();
  });

  const build = (image: string, sha: string, run: string, policy: Record<string, string>, env = {}) =>
    runAction(
      'build',
      {
        image,
        context: repo,
        files: 'site/:/www/',
        cmd: '["/www"]',
        'cache-certificate-identity-regexp': identity,
        ...policy,
      },
      // Node 24, so that the no-root case below can keep its public-good lookup on loopback.
      {
        env: { ...workflowEnv(), GITHUB_SHA: sha, GITHUB_RUN_ID: run, RUNNER_TEMP: runnerTemp(), ...env },
        node: NODE24,
      },
    );

  it('hits when the private Sigstore root is given; without it the hit is refused, said why, and rebuilt', async () => {
    const image = `${services.registry}/anew-cache-trust/keyless-${process.pid}`;
    fs.writeFileSync(path.join(repo, 'site/index.html'), '<h1>keyless</h1>\n');
    const sha = commit('keyless', 1_700_020_000);
    const root = { 'cache-trusted-root': sigstore.trustedRootPath };
    // One job: attest reads the build record that build left in the job's RUNNER_TEMP.
    const temp = runnerTemp();
    const first = await build(image, sha, '4001', root, { RUNNER_TEMP: temp });
    expect(first.code, first.log).toBe(0);
    expect(first.outputs['cache-hit']).toBe('false');
    // Signed keyless through the stand-in's Fulcio and Rekor, with the job's OIDC token.
    const a = await runAction(
      'attest',
      { image: first.outputs['image']!, 'fulcio-url': sigstore.url, 'rekor-url': sigstore.url },
      {
        env: {
          ...workflowEnv(),
          GITHUB_SHA: sha,
          GITHUB_RUN_ID: '4001',
          RUNNER_TEMP: temp,
          ...sigstore.oidcEnv(),
        },
      },
    );
    expect(a.code, a.log).toBe(0);

    const hit = await build(image, sha, '4002', root);
    expect(hit.code, hit.log).toBe(0);
    expect(hit.outputs['cache-hit']).toBe('true');
    expect(hit.outputs['digest']).toBe(first.outputs['digest']);
    expect(hit.log).toMatch(/its provenance satisfies the cache policy/);

    // Without the root the policy means public-good Sigstore, whose root comes through TUF: the
    // test routes that fetch to a closed loopback port (Node 24 reads the proxy from the
    // environment), so it fails here as it would fail to chain on a runner with network.
    const noRoot = await build(
      image,
      sha,
      '4003',
      {},
      {
        NODE_USE_ENV_PROXY: '1',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '127.0.0.1,localhost',
      },
    );
    expect(noRoot.code, noRoot.log).toBe(0);
    expect(noRoot.outputs['cache-hit']).toBe('false');
    expect(noRoot.outputs['digest']).toBe(first.outputs['digest']);
    expect(noRoot.log).toMatch(
      /Not reusing .*anew-inputs-[0-9a-f]+ \(sha256:[0-9a-f]{64}\): .*; building instead/,
    );
    expect(noRoot.log).toMatch(/public-good trust root could not be fetched/);
  });

  it('refuses a trusted root that is missing, not JSON or not a trusted root, or one without an identity, before touching the registry', async () => {
    const image = `${services.registry}/anew-cache-trust/bad-root-${process.pid}`;
    const dir = runnerTemp();
    const notJson = path.join(dir, 'not.json');
    fs.writeFileSync(notJson, 'not json');
    const notRoot = path.join(dir, 'bundle.json');
    fs.writeFileSync(notRoot, JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }));
    const sha = git('rev-parse', 'HEAD');
    const cases: [Record<string, string>, RegExp][] = [
      [
        { 'cache-trusted-root': path.join(dir, 'missing.json') },
        /input "cache-trusted-root" names .*missing\.json, which does not exist/,
      ],
      [{ 'cache-trusted-root': notJson }, /cache-trusted-root ".*not\.json" is not JSON/],
      [
        { 'cache-trusted-root': notRoot },
        /cache-trusted-root ".*bundle\.json" is not a Sigstore trusted root: its mediaType is "application\/vnd\.dev\.sigstore\.bundle/,
      ],
    ];
    for (const [policy, message] of cases) {
      const r = await build(image, sha, '4100', policy);
      expect(r.code, r.log).not.toBe(0);
      expect(r.log).toMatch(message);
      expect(r.log).toMatch(/gh attestation trusted-root|Give the path of a Sigstore trusted root/);
    }
    const alone = await runAction('build', {
      image,
      context: repo,
      files: 'site/:/www/',
      'cache-trusted-root': sigstore.trustedRootPath,
    });
    expect(alone.code).not.toBe(0);
    expect(alone.log).toMatch(
      /input "cache-trusted-root" is set without input "cache-certificate-identity-regexp"/,
    );
    // Nothing reached the registry: no manifest, no cache tag.
    expect(await client.listTags(parseRepository(image).repo)).toEqual([]);
  });
});
