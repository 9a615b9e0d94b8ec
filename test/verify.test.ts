import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '@anew/core/log';
import { attestImage, loadSigningKey, SLSA_PROVENANCE_V1, storeAttestation } from '@anew/core/provenance';
import type { Digest, Reference } from '@anew/core/ref';
import { RegistryClient } from '@anew/core/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockSigstore, startMockSigstore } from './fixtures/sigstore/mock-sigstore.ts';
import { pushTinyImage, pushTinyIndex, uniqueRepo } from './fixtures/sigstore/tiny-image.ts';
import { newKeyPair, workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { NODE_LOCAL, NODE24, runAction } from './helpers/action.ts';
import { services } from './helpers/services.ts';

describe('anew/verify (committed bundle) against the real registry', () => {
  const client = new RegistryClient();
  const right = newKeyPair();
  const wrong = newKeyPair();
  let sigstore: MockSigstore;
  let attested: Reference & { digest: Digest };
  const temps: string[] = [];
  beforeAll(async () => {
    sigstore = await startMockSigstore();
    const repo = uniqueRepo(services.registry, 'verify');
    attested = (await pushTinyImage(client, repo, crypto.randomUUID())).ref;
    const r = await runAction(
      'attest',
      { image: attested.toString(), 'signing-key': right.privatePem },
      { env: workflowEnv() },
    );
    expect(r.code, r.log).toBe(0);
  });
  afterAll(async () => {
    await sigstore?.stop();
    for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
  });

  it.each([
    ['node24', NODE24],
    ['node20', NODE_LOCAL],
  ])('passes with the right key and policy on %s, and writes the predicate', async (_name, node) => {
    const runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-verify-e2e-'));
    temps.push(runnerTemp);
    const r = await runAction(
      'verify',
      {
        image: attested.toString(),
        'public-key': right.publicPem,
        'source-repository': 'org/app',
        'source-ref': 'refs/tags/v*',
        'builder-id': 'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
      },
      { node, env: { RUNNER_TEMP: runnerTemp } },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['verified']).toBe('true');
    const predicate = JSON.parse(fs.readFileSync(r.outputs['predicate-path']!, 'utf8'));
    expect(predicate.buildDefinition.externalParameters.workflow.repository).toBe(
      'https://github.com/org/app',
    );
    expect(r.summary).toContain('anew/verify');
  });

  it('takes public-key as a file path too', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-verify-key-'));
    temps.push(dir);
    fs.writeFileSync(path.join(dir, 'cosign.pub'), right.publicPem);
    const r = await runAction('verify', {
      image: attested.toString(),
      'public-key': path.join(dir, 'cosign.pub'),
    });
    expect(r.code, r.log).toBe(0);
  });

  it('fails with the wrong key, saying which key signed it', async () => {
    const r = await runAction('verify', { image: attested.toString(), 'public-key': wrong.publicPem });
    expect(r.code).not.toBe(0);
    expect(r.outputs['verified']).toBe('false');
    expect(r.log).toMatch(
      /anew\/verify: no attestation of .* satisfies the policy \(1 found\): sha256:[0-9a-f]{64}: it is signed by another key/,
    );
  });

  it('fails on a policy the attestation does not meet (source ref)', async () => {
    const r = await runAction('verify', {
      image: attested.toString(),
      'public-key': right.publicPem,
      'source-ref': 'refs/heads/main',
    });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/its source ref is refs\/tags\/v1\.0\.0, which does not match refs\/heads\/main/);
  });

  it('fails on an unattested image', async () => {
    const repo = uniqueRepo(services.registry, 'verify-none');
    const img = await pushTinyImage(client, repo, crypto.randomUUID());
    const r = await runAction(
      'verify',
      { image: img.ref.toString(), 'public-key': right.publicPem },
      { node: NODE24 },
    );
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/has no attestation of predicate type https:\/\/slsa\.dev\/provenance\/v1/);
  });

  it('fails on a tampered attestation', async () => {
    // A copy of a good bundle whose statement was edited after signing, attached to a fresh image.
    const repo = uniqueRepo(services.registry, 'verify-tampered');
    const img = await pushTinyImage(client, repo, crypto.randomUUID());
    const key = loadSigningKey(right.privatePem);
    const good = await attestImage(
      client,
      {
        image: img.ref,
        signing: { kind: 'key', key },
        run: {
          serverUrl: 'https://github.com',
          repository: 'org/app',
          workflowRef: 'org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
        },
        push: false,
      },
      new MemoryLogger(),
    );
    const bundle = JSON.parse(good.bundle.toString());
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    statement.predicate.buildDefinition.externalParameters.workflow.ref = 'refs/tags/v2.0.0';
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    await storeAttestation(
      client,
      repo,
      Buffer.from(JSON.stringify(bundle)),
      img,
      SLSA_PROVENANCE_V1,
      new Date(),
    );
    const r = await runAction('verify', { image: img.ref.toString(), 'public-key': right.publicPem });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/the attestation was changed after signing/);
  });

  it('verifies a keyless attestation with a trusted root and identity, and refuses another repository', async () => {
    const repo = uniqueRepo(services.registry, 'verify-keyless');
    const idx = await pushTinyIndex(client, repo, crypto.randomUUID());
    const a = await runAction(
      'attest',
      { image: idx.ref.toString(), 'fulcio-url': sigstore.url, 'rekor-url': sigstore.url },
      { env: { ...workflowEnv(), ...sigstore.oidcEnv() } },
    );
    expect(a.code, a.log).toBe(0);
    const ok = await runAction(
      'verify',
      {
        image: idx.ref.toString(),
        'certificate-identity-regexp': 'https://github\\.com/org/app/\\.github/workflows/.*',
        'source-repository': 'org/app',
        'trusted-root': sigstore.trustedRootPath,
      },
      { node: NODE24 },
    );
    expect(ok.code, ok.log).toBe(0);
    expect(ok.summary).toContain('linux/arm64');
    const evil = await runAction('verify', {
      image: idx.ref.toString(),
      'certificate-identity-regexp': 'https://github\\.com/org/app-evil/.*',
      'trusted-root': sigstore.trustedRootPath,
    });
    expect(evil.code).not.toBe(0);
    expect(evil.log).toMatch(/does not match \^\(\?:https:\/\/github\\\.com\/org\/app-evil\/\.\*\)\$/);
  });

  it('attests and verifies on a registry that needs credentials (registry-username, registry-password)', async () => {
    const auth = services.authRegistry;
    const authed = new RegistryClient({
      credentials: { [auth.host]: { username: auth.username, password: auth.password } },
    });
    const repo = uniqueRepo(auth.host, 'verify-auth');
    const img = await pushTinyImage(authed, repo, crypto.randomUUID());
    const creds = { 'registry-username': auth.username, 'registry-password': auth.password };
    const a = await runAction(
      'attest',
      { image: img.ref.toString(), 'signing-key': right.privatePem, ...creds },
      { env: workflowEnv() },
    );
    expect(a.code, a.log).toBe(0);
    expect(
      a.log
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    ).not.toContain(auth.password);
    const v = await runAction(
      'verify',
      { image: img.ref.toString(), 'public-key': right.publicPem, ...creds },
      { node: NODE24 },
    );
    expect(v.code, v.log).toBe(0);
    const emptyDockerConfig = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-no-docker-config-'));
    temps.push(emptyDockerConfig);
    const anonymous = await runAction(
      'verify',
      { image: img.ref.toString(), 'public-key': right.publicPem },
      { env: { DOCKER_CONFIG: emptyDockerConfig } },
    );
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.log).toMatch(/requires credentials and none were found/);
  });

  it.each([
    [
      { 'certificate-identity': 'x', 'certificate-identity-regexp': 'y' },
      /both certificate-identity and certificate-identity-regexp are set/,
    ],
    [
      { 'certificate-identity': 'x', 'trusted-root': '/nonexistent/trusted_root.json' },
      /input "trusted-root" names \/nonexistent\/trusted_root\.json, which does not exist/,
    ],
    [
      { 'public-key': '/nonexistent/cosign.pub' },
      /input "public-key" is neither a PEM key nor the path of a file/,
    ],
    [
      { 'public-key': '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----' },
      /public-key is a private key/,
    ],
    [{ 'certificate-identity-regexp': '(' }, /certificate-identity-regexp is not a valid regular expression/],
  ])('refuses the policy %o before reading the registry', async (policy, message) => {
    const r = await runAction('verify', { image: `127.0.0.1:9/none@sha256:${'0'.repeat(64)}`, ...policy });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(message);
  });

  it('refuses an incomplete policy before reading the registry', async () => {
    const r = await runAction('verify', { image: attested.toString() });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/no signer is required: set public-key .* or certificate-identity/);
  });
});
