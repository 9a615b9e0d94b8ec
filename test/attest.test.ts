import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE_MEDIA_TYPE, keyHint, parseBundle, statementOf } from '@anew/core/provenance';
import { fallbackTag, RegistryClient } from '@anew/core/registry';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockSigstore, startMockSigstore } from './fixtures/sigstore/mock-sigstore.ts';
import { pushTinyImage, uniqueRepo } from './fixtures/sigstore/tiny-image.ts';
import { newKeyPair, workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { NODE_LOCAL, NODE24, runAction } from './helpers/action.ts';
import { skopeoRaw } from './helpers/build-tools.ts';
import { services } from './helpers/services.ts';

describe('anew/attest (committed bundle) against the real registry', () => {
  const client = new RegistryClient();
  const key = newKeyPair('key-password-1');
  let sigstore: MockSigstore;
  const temps: string[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-attest-e2e-'));
    temps.push(d);
    return d;
  };
  beforeAll(async () => {
    sigstore = await startMockSigstore();
  });
  afterAll(async () => {
    await sigstore?.stop();
    for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
  });

  it('signs with an encrypted key on node24, records what build left, and never logs the key', async () => {
    const repo = uniqueRepo(services.registry, 'attest-key');
    const img = await pushTinyImage(client, repo, crypto.randomUUID());
    const runnerTemp = tempDir();
    const hex = img.digest.slice(7);
    fs.mkdirSync(path.join(runnerTemp, 'anew'));
    const inputsDigest = `sha256:${'4'.repeat(64)}`;
    const baseDigest = `sha256:${'5'.repeat(64)}`;
    fs.writeFileSync(
      path.join(runnerTemp, 'anew', `build-${hex}.json`),
      JSON.stringify({ inputsDigest, baseDigest, startedOn: '2026-01-02T03:04:05Z' }),
    );

    const r = await runAction(
      'attest',
      { image: img.ref.toString(), 'signing-key': key.privatePem, 'signing-key-password': 'key-password-1' },
      { node: NODE24, env: { ...workflowEnv(), RUNNER_TEMP: runnerTemp } },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['attestation-digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.outputs['bundle-path']).toBe(path.join(runnerTemp, 'anew', `attestation-${hex}.sigstore.json`));
    // The key and its password never reach the log, except in the ::add-mask:: commands that
    // tell the runner to mask them (the runner consumes those and prints nothing).
    const printed = r.log
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    expect(r.log).toContain('::add-mask::key-password-1');
    for (const line of key.privatePem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')))
      expect(printed).not.toContain(line);
    expect(printed).not.toContain('key-password-1');

    // The bundle on disk is the one in the registry, and says what build recorded.
    const bundle = fs.readFileSync(r.outputs['bundle-path']!);
    const statement = statementOf(parseBundle(bundle));
    expect(statement.predicate.buildDefinition.internalParameters.anew).toEqual({ inputsDigest });
    expect(statement.predicate.runDetails.metadata.startedOn).toBe('2026-01-02T03:04:05.000Z');
    expect(Date.parse(statement.predicate.runDetails.metadata.finishedOn)).toBeGreaterThan(
      Date.parse('2026-01-02T03:04:05Z'),
    );
    expect(statement.predicate.runDetails.metadata.invocationId).toBe(
      'https://github.com/org/app/actions/runs/1234/attempts/1',
    );
    expect(statement.predicate.buildDefinition.resolvedDependencies).toContainEqual({
      name: 'base-image',
      digest: { sha256: '5'.repeat(64) },
    });
    expect(statement.predicate.runDetails.builder.id).toBe(
      'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
    );
    const refs = await client.referrers(repo, img.digest, BUNDLE_MEDIA_TYPE);
    expect(refs.map((d) => d.digest)).toEqual([r.outputs['attestation-digest']]);

    // @sigstore/verify, on its own, accepts the bundle with the public key.
    const pub = crypto.createPublicKey(key.publicPem);
    const material = toTrustMaterial(
      TrustedRoot.fromJSON({ tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] }),
      {
        [keyHint(pub)]: {
          rawBytes: pub.export({ type: 'spki', format: 'der' }),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256' as never,
        },
      },
    );
    new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
      toSignedEntity(bundleFromJSON(JSON.parse(bundle.toString()))),
    );

    // skopeo, an independent client, reads the attestation manifest from the registry.
    const raw = skopeoRaw(`${repo.name}@${r.outputs['attestation-digest']}`).toString('utf8');
    expect(JSON.parse(raw)).toMatchObject({
      artifactType: BUNDLE_MEDIA_TYPE,
      subject: { digest: img.digest },
    });

    // Run again (a re-run of the job): the attestation is already there, none is added.
    const again = await runAction(
      'attest',
      { image: img.ref.toString(), 'signing-key': key.privatePem, 'signing-key-password': 'key-password-1' },
      { node: NODE_LOCAL, env: { ...workflowEnv(), GITHUB_RUN_ATTEMPT: '2' } },
    );
    expect(again.code, again.log).toBe(0);
    expect(again.outputs['attestation-digest']).toBe(r.outputs['attestation-digest']);
    expect(again.log).toContain('not adding another');
    const index = await client.getManifest(repo.withTag(fallbackTag(img.digest)));
    expect(index.json.manifests).toHaveLength(1);
  });

  it('signs keyless with the job OIDC token against a private Sigstore (fulcio-url, rekor-url)', async () => {
    const repo = uniqueRepo(services.registry, 'attest-keyless');
    const img = await pushTinyImage(client, repo, crypto.randomUUID());
    const runnerTemp = tempDir();
    const r = await runAction(
      'attest',
      { image: img.ref.toString(), 'fulcio-url': sigstore.url, 'rekor-url': sigstore.url },
      { node: NODE_LOCAL, env: { ...workflowEnv(), ...sigstore.oidcEnv(), RUNNER_TEMP: runnerTemp } },
    );
    expect(r.code, r.log).toBe(0);
    const json = JSON.parse(fs.readFileSync(r.outputs['bundle-path']!, 'utf8'));
    expect(json.verificationMaterial.certificate.rawBytes).toBeTruthy();
    expect(json.verificationMaterial.tlogEntries).toHaveLength(1);
    // Checked by @sigstore/verify alone, with the trusted root of that instance.
    const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(sigstore.trustedRootPath, 'utf8')));
    const signer = new Verifier(toTrustMaterial(root), { ctlogThreshold: 0 }).verify(
      toSignedEntity(bundleFromJSON(json)),
      {
        subjectAlternativeName: 'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
        extensions: { issuer: 'https://token.actions.githubusercontent.com' },
      },
    );
    expect(signer.identity?.subjectAlternativeName).toContain('/org/app/');
  });

  it('refuses a tag, and keyless signing without an OIDC token, before any side effect', async () => {
    const repo = uniqueRepo(services.registry, 'attest-refuse');
    const tagged = await runAction(
      'attest',
      {
        image: `${repo.name}:latest`,
        'signing-key': key.privatePem,
        'signing-key-password': 'key-password-1',
      },
      { env: workflowEnv() },
    );
    expect(tagged.code).not.toBe(0);
    expect(tagged.log).toMatch(/anew\/attest: input "image" .* is not pinned by digest/);
    const img = await pushTinyImage(client, repo, crypto.randomUUID());
    const noToken = await runAction('attest', { image: img.ref.toString() }, { env: workflowEnv() });
    expect(noToken.code).not.toBe(0);
    expect(noToken.log).toMatch(/keyless signing needs the job's OIDC token.*id-token: write/);
    const wrongPassword = await runAction(
      'attest',
      { image: img.ref.toString(), 'signing-key': key.privatePem, 'signing-key-password': 'nope-nope' },
      { env: workflowEnv() },
    );
    expect(wrongPassword.code).not.toBe(0);
    expect(wrongPassword.log).toMatch(/could not be decrypted.*Check signing-key-password/);
    expect(await client.referrers(repo, img.digest)).toEqual([]);
  });

  it('also stores the bundle through the GitHub attestations API (a stand-in server) when asked', async () => {
    const received: { url: string; auth: string; body: { bundle?: { mediaType?: string } } }[] = [];
    const api = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push({
          url: `${req.method} ${req.url}`,
          auth: String(req.headers.authorization),
          body: JSON.parse(body || '{}'),
        });
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 4242 }));
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    try {
      const repo = uniqueRepo(services.registry, 'attest-github');
      const img = await pushTinyImage(client, repo, crypto.randomUUID());
      const r = await runAction(
        'attest',
        {
          image: img.ref.toString(),
          'signing-key': key.privatePem,
          'signing-key-password': 'key-password-1',
          'github-attestation': 'true',
          'github-token': 'ghs_standin_token_1',
        },
        {
          env: {
            ...workflowEnv(),
            GITHUB_API_URL: `http://127.0.0.1:${(api.address() as { port: number }).port}`,
          },
        },
      );
      expect(r.code, r.log).toBe(0);
      expect(received).toHaveLength(1);
      expect(received[0]!.url).toBe('POST /repos/org/app/attestations');
      expect(received[0]!.auth).toBe('token ghs_standin_token_1');
      expect(received[0]!.body.bundle?.mediaType).toBe(BUNDLE_MEDIA_TYPE);
      expect(r.summary).toContain('4242');
    } finally {
      await new Promise((r) => api.close(r));
    }
  });

  it('fails the step when GitHub refuses an attestation the input asked for (403); a re-run still stores it', async () => {
    let status = 403;
    const posts: { mediaType?: string }[] = [];
    const api = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        posts.push(JSON.parse(body || '{}').bundle ?? {});
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            status === 403 ? { message: 'Resource not accessible by integration' } : { id: 5151 },
          ),
        );
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    try {
      const repo = uniqueRepo(services.registry, 'attest-github-403');
      const img = await pushTinyImage(client, repo, crypto.randomUUID());
      const attest = () =>
        runAction(
          'attest',
          {
            image: img.ref.toString(),
            'signing-key': key.privatePem,
            'signing-key-password': 'key-password-1',
            'github-attestation': 'true',
            'github-token': 'ghs_standin_token_2',
          },
          {
            env: {
              ...workflowEnv(),
              GITHUB_API_URL: `http://127.0.0.1:${(api.address() as { port: number }).port}`,
            },
          },
        );
      const r = await attest();
      expect(posts).toHaveLength(1);
      expect(r.code, r.log).not.toBe(0);
      expect(r.log).toMatch(
        /::error::anew\/attest: GitHub did not store the attestation: POST \/repos\/org\/app\/attestations answered 403 .*attestations: write/,
      );
      // The job is re-run once the permission is fixed: the registry has the attestation
      // already, and GitHub gets that same bundle rather than nothing.
      status = 201;
      const again = await attest();
      expect(again.code, again.log).toBe(0);
      expect(again.log).toContain('not adding another');
      expect(posts).toHaveLength(2);
      expect(posts[1]).toEqual(posts[0]);
      expect(posts[1]!.mediaType).toBe(BUNDLE_MEDIA_TYPE);
      expect(again.summary).toContain('5151');
    } finally {
      await new Promise((r) => api.close(r));
    }
  });

  it('with push-to-registry false, only writes the bundle', async () => {
    const repo = uniqueRepo(services.registry, 'attest-nopush');
    const img = await pushTinyImage(client, repo, crypto.randomUUID());
    const runnerTemp = tempDir();
    const r = await runAction(
      'attest',
      {
        image: img.ref.toString(),
        'signing-key': key.privatePem,
        'signing-key-password': 'key-password-1',
        'push-to-registry': 'false',
      },
      { env: { ...workflowEnv(), RUNNER_TEMP: runnerTemp } },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['attestation-digest']).toBeUndefined();
    expect(statementOf(parseBundle(fs.readFileSync(r.outputs['bundle-path']!))).subject[0]!.digest).toEqual({
      sha256: img.digest.slice(7),
    });
    expect(await client.referrers(repo, img.digest)).toEqual([]);
  });

  it('ten parallel runs on one subject (ten builders) leave ten entries in the tag index', async () => {
    const repo = uniqueRepo(services.registry, 'attest-parallel');
    const img = await pushTinyImage(client, repo, crypto.randomUUID());
    const plain = newKeyPair();
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        runAction(
          'attest',
          { image: img.ref.toString(), 'signing-key': plain.privatePem },
          { env: workflowEnv(`release-${i}.yml`) },
        ),
      ),
    );
    for (const r of runs) expect(r.code, r.log).toBe(0);
    const digests = new Set(runs.map((r) => r.outputs['attestation-digest']));
    expect(digests.size).toBe(10);
    const index = await client.getManifest(repo.withTag(fallbackTag(img.digest)));
    const listed = new Set((index.json.manifests as { digest: string }[]).map((d) => d.digest));
    expect(
      [...digests].filter((d) => !listed.has(d!)),
      'attestations lost from the tag index',
    ).toEqual([]);
    expect(listed.size).toBe(10);
  });
});
