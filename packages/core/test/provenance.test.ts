import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunContext } from '@anew/core/github';
import { MemoryLogger } from '@anew/core/log';
import {
  BUILD_TYPE,
  BUNDLE_MEDIA_TYPE,
  buildProvenanceStatement,
  checkAttestation,
  checkPolicy,
  defaultPolicy,
  globToRegExp,
  keyHint,
  keylessTrust,
  loadSigningKey,
  parseBundle,
  preAuthEncoding,
  publicKeyTrust,
  readTrustedRoot,
  SLSA_PROVENANCE_V1,
  sameRepository,
  signStatement,
  verifyBundle,
} from '@anew/core/provenance';
import { bundleFromJSON } from '@sigstore/bundle';
import { dsse as sigstoreDsse } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockSigstore, startMockSigstore } from '../../../test/fixtures/sigstore/mock-sigstore.ts';

const DIGEST = `sha256:${'1'.repeat(64)}` as const;
const run: RunContext = {
  repository: 'org/app',
  serverUrl: 'https://github.com',
  sha: 'a'.repeat(40),
  ref: 'refs/tags/v1.0.0',
  eventName: 'push',
  workflowRef: 'org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
  runId: '42',
  runAttempt: '2',
  runnerEnvironment: 'github-hosted',
};

function newKeyPem(password?: string): string {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey
    .export(
      password
        ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: password }
        : { type: 'pkcs8', format: 'pem' },
    )
    .toString();
}

const statement = () =>
  buildProvenanceStatement({
    subjects: [{ name: 'registry.example/org/app', digest: DIGEST }],
    run,
    inputsDigest: `sha256:${'2'.repeat(64)}`,
    baseDigest: `sha256:${'3'.repeat(64)}`,
    startedOn: new Date('2026-01-01T00:00:00Z'),
    finishedOn: new Date('2026-01-01T00:01:00Z'),
  });

describe('DSSE pre-authentication encoding', () => {
  it('matches the specification test vector', () => {
    // https://github.com/secure-systems-lab/dsse/blob/master/protocol.md#test-case
    const pae = preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world'));
    expect(pae.toString('utf8')).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });
  it('counts bytes, not characters, and agrees with @sigstore/core', () => {
    const payload = Buffer.from('{"é":"ü"}', 'utf8');
    const ours = preAuthEncoding('application/vnd.in-toto+json', payload);
    expect(ours.toString('utf8')).toBe(`DSSEv1 28 application/vnd.in-toto+json 11 {"é":"ü"}`);
    expect(ours.equals(sigstoreDsse.preAuthEncoding('application/vnd.in-toto+json', payload))).toBe(true);
  });
});

describe('SLSA v1 provenance statement', () => {
  it('records the workflow, the run, the source commit and the base image', () => {
    const s = statement();
    expect(s._type).toBe('https://in-toto.io/Statement/v1');
    expect(s.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(s.subject).toEqual([{ name: 'registry.example/org/app', digest: { sha256: '1'.repeat(64) } }]);
    const p = s.predicate;
    expect(p.buildDefinition.buildType).toBe(BUILD_TYPE);
    expect(p.buildDefinition.externalParameters.workflow).toEqual({
      repository: 'https://github.com/org/app',
      ref: 'refs/tags/v1.0.0',
      path: '.github/workflows/release.yml',
    });
    expect(p.buildDefinition.internalParameters).toEqual({
      github: { event_name: 'push', runner_environment: 'github-hosted' },
      anew: { inputsDigest: `sha256:${'2'.repeat(64)}` },
    });
    expect(p.buildDefinition.resolvedDependencies).toEqual([
      { uri: 'git+https://github.com/org/app@refs/tags/v1.0.0', digest: { gitCommit: 'a'.repeat(40) } },
      { name: 'base-image', digest: { sha256: '3'.repeat(64) } },
    ]);
    expect(p.runDetails.builder.id).toBe(
      'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
    );
    expect(p.runDetails.metadata).toEqual({
      invocationId: 'https://github.com/org/app/actions/runs/42/attempts/2',
      startedOn: '2026-01-01T00:00:00.000Z',
      finishedOn: '2026-01-01T00:01:00.000Z',
    });
  });
  it('says when the build reused a cached image, naming the run that built it when known', () => {
    expect(statement().predicate.buildDefinition.internalParameters.anew.reused).toBeUndefined();
    const base = {
      subjects: [{ name: 'registry.example/org/app', digest: DIGEST }],
      run,
      finishedOn: new Date(),
    };
    const known = buildProvenanceStatement({
      ...base,
      inputsDigest: `sha256:${'2'.repeat(64)}`,
      reused: { invocationId: 'https://github.com/org/app/actions/runs/7/attempts/1' },
    });
    expect(known.predicate.buildDefinition.internalParameters.anew).toEqual({
      inputsDigest: `sha256:${'2'.repeat(64)}`,
      reused: { invocationId: 'https://github.com/org/app/actions/runs/7/attempts/1' },
    });
    // This run's own id stays where it was: the statement is about this run, which reused.
    expect(known.predicate.runDetails.metadata.invocationId).toBe(
      'https://github.com/org/app/actions/runs/42/attempts/2',
    );
    const unknown = buildProvenanceStatement({ ...base, reused: {} });
    expect(unknown.predicate.buildDefinition.internalParameters.anew).toEqual({ reused: {} });
  });
  it('refuses to guess the builder outside a workflow', () => {
    expect(() =>
      buildProvenanceStatement({
        subjects: [],
        run: { serverUrl: 'https://github.com' },
        finishedOn: new Date(),
      }),
    ).toThrow(/GITHUB_REPOSITORY or GITHUB_WORKFLOW_REF is not set/);
  });
});

describe('policy matching', () => {
  it.each([
    ['refs/tags/v*', 'refs/tags/v1.2.3', true],
    ['refs/tags/v*', 'refs/tags/v1/evil', false],
    ['refs/tags/v*', 'refs/heads/v1', false],
    ['refs/heads/**', 'refs/heads/release/1.x', true],
    ['refs/heads/main', 'refs/heads/main', true],
    ['refs/heads/main', 'refs/heads/mainline', false],
    ['refs/tags/v?.0', 'refs/tags/v2.0', true],
    ['refs/tags/v1.0', 'refs/tags/v1x0', false],
  ])('source-ref glob %s against %s: %s', (glob, ref, ok) => {
    expect(globToRegExp(glob).test(ref)).toBe(ok);
  });
  it.each([
    ['org/app', 'https://github.com/org/app', true],
    ['Org/App', 'https://github.com/org/app', true],
    ['org/app', 'https://github.com/org/app-evil', false],
    ['org/app', 'https://github.com/evil/org/app', false],
    ['https://github.com/org/app', 'https://github.com/org/app/', true],
    ['https://github.com/org/app', 'https://ghe.example/org/app', false],
  ])('source-repository %s against %s: %s', (wanted, url, ok) => {
    expect(sameRepository(wanted, url)).toBe(ok);
  });

  const key = { kind: 'key' as const, subject: 'key:x', extensions: {} };
  const keyless = (commit: string) => ({
    kind: 'keyless' as const,
    subject: 'https://github.com/org/app/.github/workflows/release.yml@refs/heads/main',
    issuer: 'https://token.actions.githubusercontent.com',
    extensions: { '1.3.6.1.4.1.57264.1.13': commit },
  });
  it.each([
    ['the commit the statement names', 'a'.repeat(40), key, undefined],
    ['the same commit in capitals', 'A'.repeat(40), key, undefined],
    ['another commit', 'b'.repeat(40), key, /its source commit is a{40}, not b{40}/],
    [
      'a certificate made for another commit',
      'a'.repeat(40),
      keyless('c'.repeat(40)),
      /certificate's source commit is c{40}, not a{40}/,
    ],
    ['a certificate made for that commit', 'a'.repeat(40), keyless('a'.repeat(40)), undefined],
  ])('source-commit against %s', (_what, sourceCommit, signer, refused) => {
    const check = () =>
      checkAttestation(
        statement(),
        signer,
        DIGEST,
        defaultPolicy({
          sourceCommit,
          ...(signer.kind === 'keyless' ? { certificateIdentityRegexp: '.+' } : {}),
        }),
      );
    if (refused) expect(check).toThrow(refused);
    else expect(check).not.toThrow();
  });
  it('refuses a source-commit that is not a full commit hash, before anything is fetched', () => {
    expect(() =>
      checkPolicy(defaultPolicy({ certificateIdentityRegexp: '.+', sourceCommit: 'abc1234' })),
    ).toThrow(/source-commit is "abc1234", not a full git commit hash/);
  });
});

describe('signing keys', () => {
  it('reads an encrypted PKCS#8 key with its password, and says what is wrong otherwise', () => {
    const pem = newKeyPem('s3cret-pw');
    expect(loadSigningKey(pem, 's3cret-pw').hint).toMatch(/^[0-9a-f]{64}$/);
    expect(() => loadSigningKey(pem)).toThrow(/encrypted and no password was given/);
    expect(() => loadSigningKey(pem, 'wrong')).toThrow(/could not be decrypted/);
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(() => loadSigningKey(rsa.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(
      /a rsa key, not ECDSA P-256/,
    );
    expect(() => loadSigningKey('not a key')).toThrow(/not a PEM key/);
  });
});

describe('key-signed bundles', () => {
  it('are Sigstore bundles v0.3 with one DSSE signature and a key hint, and verify', async () => {
    const key = loadSigningKey(newKeyPem());
    const json = await signStatement(statement(), { kind: 'key', key }, new MemoryLogger());
    expect(json.mediaType).toBe(BUNDLE_MEDIA_TYPE);
    expect(json.verificationMaterial.publicKey?.hint).toBe(key.hint);
    expect(json.dsseEnvelope?.signatures).toHaveLength(1);
    const v = verifyBundle(parseBundle(JSON.stringify(json)), {
      kind: 'key',
      publicKey: key.publicKey,
      trust: publicKeyTrust(key.publicKey),
    });
    expect(v.statement).toEqual(statement());
    expect(v.signer).toEqual({ kind: 'key', subject: `key:${keyHint(key.publicKey)}`, extensions: {} });

    // Independently of our verify code: @sigstore/verify with the key as the trust material.
    const material = toTrustMaterial(
      TrustedRoot.fromJSON({ tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] }),
      {
        [key.hint]: {
          rawBytes: key.publicKey.export({ type: 'spki', format: 'der' }),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256' as never,
        },
      },
    );
    const verifier = new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(json)))).not.toThrow();
  });
});

describe('keyless bundles against a mock Sigstore (Fulcio, Rekor) on loopback', () => {
  let sigstore: MockSigstore;
  beforeAll(async () => {
    sigstore = await startMockSigstore();
  });
  afterAll(async () => {
    await sigstore?.stop();
  });

  it('carry a Fulcio certificate and a Rekor entry, and verify with the trusted root', async () => {
    const json = await signStatement(
      statement(),
      { kind: 'keyless', token: sigstore.token(), fulcioUrl: sigstore.url, rekorUrl: sigstore.url },
      new MemoryLogger(),
    );
    expect(json.mediaType).toBe(BUNDLE_MEDIA_TYPE);
    expect(json.verificationMaterial.certificate?.rawBytes).toBeTruthy();
    expect(json.verificationMaterial.tlogEntries).toHaveLength(1);
    expect(json.dsseEnvelope?.signatures).toHaveLength(1);
    const v = verifyBundle(parseBundle(JSON.stringify(json)), {
      kind: 'keyless',
      trust: keylessTrust(readTrustedRoot(sigstore.trustedRootPath)),
    });
    expect(v.signer.kind).toBe('keyless');
    expect(v.signer.subject).toBe(
      'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
    );
    expect(v.signer.issuer).toBe('https://token.actions.githubusercontent.com');
    expect(v.signer.extensions['1.3.6.1.4.1.57264.1.12']).toBe('https://github.com/org/app');
    expect(v.signer.extensions['1.3.6.1.4.1.57264.1.14']).toBe('refs/tags/v1.0.0');

    // Independently of our code: @sigstore/verify with the trusted root file, its own policy check.
    const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(sigstore.trustedRootPath, 'utf8')));
    // The mock instance has no CT log (see mock-sigstore.ts), hence no SCT to require.
    const signer = new Verifier(toTrustMaterial(root), { ctlogThreshold: 0 }).verify(
      toSignedEntity(bundleFromJSON(json)),
      {
        subjectAlternativeName: 'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.0.0',
        extensions: { issuer: 'https://token.actions.githubusercontent.com' },
      },
    );
    expect(signer.identity?.subjectAlternativeName).toContain('org/app');
  });

  it('fail against another trust root', async () => {
    const other = await startMockSigstore();
    try {
      const json = await signStatement(
        statement(),
        { kind: 'keyless', token: sigstore.token(), fulcioUrl: sigstore.url, rekorUrl: sigstore.url },
        new MemoryLogger(),
      );
      expect(() =>
        verifyBundle(parseBundle(JSON.stringify(json)), {
          kind: 'keyless',
          trust: keylessTrust(readTrustedRoot(other.trustedRootPath)),
        }),
      ).toThrow(/its signature does not verify/);
    } finally {
      await other.stop();
    }
  });

  it('report an unreachable Sigstore as a user error that names the instance', async () => {
    await expect(
      signStatement(
        statement(),
        { kind: 'keyless', token: sigstore.token(), fulcioUrl: 'http://127.0.0.1:9', rekorUrl: sigstore.url },
        new MemoryLogger(),
      ),
    ).rejects.toThrow(/keyless signing through http:\/\/127.0.0.1:9/);
  });

  it('read a trusted root whole: a file that is not one is refused by name, with what is wrong', () => {
    expect(readTrustedRoot(sigstore.trustedRootPath).certificateAuthorities).toHaveLength(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-trusted-root-'));
    try {
      const good = JSON.parse(fs.readFileSync(sigstore.trustedRootPath, 'utf8'));
      const file = (name: string, content: string) => {
        fs.writeFileSync(path.join(dir, name), content);
        return path.join(dir, name);
      };
      const cases: [string, RegExp][] = [
        [path.join(dir, 'missing.json'), /cache-trusted-root ".*missing\.json" cannot be read \(ENOENT\)/],
        [file('text.json', 'not json'), /cache-trusted-root ".*text\.json" is not JSON/],
        [file('other.json', '{"schemaVersion": 2}'), /is not a Sigstore trusted root: its mediaType is null/],
        [file('array.json', '[]'), /is not a Sigstore trusted root/],
        [
          file('no-ca.json', JSON.stringify({ ...good, certificateAuthorities: [] })),
          /names no certificate authority/,
        ],
        [
          file(
            'damaged.json',
            JSON.stringify({
              ...good,
              certificateAuthorities: [
                { ...good.certificateAuthorities[0], certChain: { certificates: [{ rawBytes: 'AAAA' }] } },
              ],
            }),
          ),
          /is not a valid Sigstore trusted root/,
        ],
      ];
      for (const [f, message] of cases)
        expect(() => readTrustedRoot(f, 'cache-trusted-root'), f).toThrow(message);
      // The v0.2 media type is a trusted root too.
      const v2 = file(
        'v2.json',
        JSON.stringify({ ...good, mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json' }),
      );
      expect(readTrustedRoot(v2).tlogs).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
