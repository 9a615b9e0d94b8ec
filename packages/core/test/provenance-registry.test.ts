import crypto from 'node:crypto';
import { type RunContext, runContextFromEnv } from '@anew/core/github';
import { MemoryLogger } from '@anew/core/log';
import {
  attestImage,
  BUNDLE_MEDIA_TYPE,
  buildProvenanceStatement,
  defaultPolicy,
  loadSigningKey,
  PREDICATE_TYPE_ANNOTATION,
  type SerializedBundle,
  type SigningMethod,
  SLSA_PROVENANCE_V1,
  signStatement,
  storeAttestation,
  type VerifyPolicy,
  verifyImage,
} from '@anew/core/provenance';
import type { Digest, Reference } from '@anew/core/ref';
import { type Descriptor, fallbackTag, MediaType, RegistryClient } from '@anew/core/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockSigstore, startMockSigstore } from '../../../test/fixtures/sigstore/mock-sigstore.ts';
import { pushTinyImage, pushTinyIndex, uniqueRepo } from '../../../test/fixtures/sigstore/tiny-image.ts';
import { newKeyPair, workflowEnv } from '../../../test/fixtures/sigstore/workflow-env.ts';
import { services } from '../../../test/helpers/services.ts';

// The job's context as GitHub sets it; the same fixture the end-to-end tests use.
const run: RunContext = runContextFromEnv(workflowEnv());
const IDENTITY = 'https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.0.0';

const pem = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
function newKey() {
  return loadSigningKey(newKeyPair().privatePem);
}

describe('provenance in the real registry (distribution 2.8, tag-schema referrers)', () => {
  let client: RegistryClient;
  let sigstore: MockSigstore;
  const keyA = newKey();
  const keyB = newKey();
  const log = new MemoryLogger();

  beforeAll(async () => {
    client = new RegistryClient({ log });
    sigstore = await startMockSigstore();
  });
  afterAll(async () => {
    await sigstore?.stop();
  });

  const keyPolicy = (over: Partial<VerifyPolicy> = {}) =>
    defaultPolicy({ publicKey: pem(keyA.publicKey), ...over });
  const keylessPolicy = (over: Partial<VerifyPolicy> = {}) =>
    defaultPolicy({ certificateIdentity: IDENTITY, trustedRoot: sigstore.trustedRootPath, ...over });
  const keyless = (claims = {}): SigningMethod => ({
    kind: 'keyless',
    token: sigstore.token(claims),
    fulcioUrl: sigstore.url,
    rekorUrl: sigstore.url,
  });

  /** Signs a statement about `about` and attaches it to `subject`, with the SLSA annotation whatever it says. */
  async function attach(
    repo: Reference,
    subject: Descriptor,
    signing: SigningMethod,
    edit: {
      statement?: (s: ReturnType<typeof buildProvenanceStatement>) => void;
      bundle?: (b: SerializedBundle) => void;
      about?: Digest;
    } = {},
  ): Promise<Digest> {
    const statement = buildProvenanceStatement({
      subjects: [{ name: repo.name, digest: edit.about ?? subject.digest }],
      run,
      finishedOn: new Date(),
    });
    edit.statement?.(statement);
    const bundle = await signStatement(statement, signing, log);
    edit.bundle?.(bundle);
    return storeAttestation(
      client,
      repo,
      Buffer.from(JSON.stringify(bundle)),
      subject,
      SLSA_PROVENANCE_V1,
      new Date(),
    );
  }

  async function image(name: string) {
    const repo = uniqueRepo(services.registry, name);
    return { repo, img: await pushTinyImage(client, repo, `${name}-${crypto.randomUUID()}`) };
  }

  it('attests and verifies an image, key-signed, in the format cosign and GitHub read', async () => {
    const { repo, img } = await image('key');
    const r = await attestImage(
      client,
      { image: img.ref, signing: { kind: 'key', key: keyA }, run, push: true },
      log,
    );
    expect(r.signed).toBe(true);
    const att = r.manifests[0]!.attestationDigest!;
    const manifest = await client.getManifest(repo.withDigest(att));
    expect(manifest.json).toMatchObject({
      mediaType: MediaType.ociManifest,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2 },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE }],
      subject: { digest: img.digest, mediaType: MediaType.ociManifest, size: img.size },
      annotations: {
        [PREDICATE_TYPE_ANNOTATION]: SLSA_PROVENANCE_V1,
        'dev.sigstore.bundle.content': 'dsse-envelope',
      },
    });
    const index = await client.getManifest(repo.withTag(fallbackTag(img.digest)));
    expect(index.json.manifests.map((d: Descriptor) => d.digest)).toEqual([att]);
    const v = await verifyImage(
      client,
      img.ref,
      keyPolicy({
        sourceRepository: 'org/app',
        sourceRef: 'refs/tags/v*',
        builderId: `https://github.com/${run.workflowRef}`,
      }),
      log,
    );
    expect(v.manifests).toEqual([expect.objectContaining({ digest: img.digest, attestation: att })]);
    expect(v.statement.predicate.runDetails.builder.id).toBe(`https://github.com/${run.workflowRef}`);
  });

  it('does not add a second attestation from the same builder, but adds one from another', async () => {
    const { repo, img } = await image('idem');
    const first = await attestImage(
      client,
      { image: img.ref, signing: { kind: 'key', key: keyA }, run, push: true },
      log,
    );
    const again = await attestImage(
      client,
      { image: img.ref, signing: { kind: 'key', key: keyA }, run: { ...run, runAttempt: '2' }, push: true },
      log,
    );
    expect(again.signed).toBe(false);
    expect(again.manifests[0]!.attestationDigest).toBe(first.manifests[0]!.attestationDigest);
    const other = await attestImage(
      client,
      {
        image: img.ref,
        signing: { kind: 'key', key: keyA },
        run: { ...run, workflowRef: 'org/app/.github/workflows/other.yml@refs/tags/v1.0.0' },
        push: true,
      },
      log,
    );
    expect(other.signed).toBe(true);
    const index = await client.getManifest(repo.withTag(fallbackTag(img.digest)));
    expect(index.json.manifests).toHaveLength(2);
  });

  it('attests an index and every platform manifest, and verifies them all', async () => {
    const repo = uniqueRepo(services.registry, 'multi');
    const idx = await pushTinyIndex(client, repo, crypto.randomUUID());
    const r = await attestImage(
      client,
      { image: idx.ref, signing: { kind: 'key', key: keyA }, run, push: true },
      log,
    );
    expect(r.manifests.map((m) => [m.platform, m.digest])).toEqual([
      [undefined, idx.ref.digest],
      ['linux/amd64', idx.amd64.digest],
      ['linux/arm64', idx.arm64.digest],
    ]);
    expect(r.statement.subject.map((s) => `sha256:${s.digest['sha256']}`)).toEqual([
      idx.ref.digest,
      idx.amd64.digest,
      idx.arm64.digest,
    ]);
    for (const d of [idx.ref.digest, idx.amd64.digest, idx.arm64.digest]) {
      expect((await client.referrers(repo, d, BUNDLE_MEDIA_TYPE)).length).toBe(1);
    }
    const v = await verifyImage(client, idx.ref, keyPolicy(), log);
    expect(v.manifests.map((m) => m.platform)).toEqual([undefined, 'linux/amd64', 'linux/arm64']);
  });

  it('attests an index whose platform manifest already has an attestation: only the others get one', async () => {
    const repo = uniqueRepo(services.registry, 'partial');
    const idx = await pushTinyIndex(client, repo, crypto.randomUUID());
    const alone = await attestImage(
      client,
      {
        image: repo.withDigest(idx.amd64.digest) as Reference & { digest: Digest },
        signing: { kind: 'key', key: keyA },
        run,
        push: true,
      },
      log,
    );
    const r = await attestImage(
      client,
      { image: idx.ref, signing: { kind: 'key', key: keyA }, run, push: true },
      log,
    );
    expect(r.signed).toBe(true);
    expect(r.manifests.map((m) => [m.platform, m.reused])).toEqual([
      [undefined, false],
      ['linux/amd64', true],
      ['linux/arm64', false],
    ]);
    expect(r.manifests[1]!.attestationDigest).toBe(alone.manifests[0]!.attestationDigest);
    expect(await client.referrers(repo, idx.amd64.digest, BUNDLE_MEDIA_TYPE)).toHaveLength(1);
    await expect(verifyImage(client, idx.ref, keyPolicy(), log)).resolves.toBeTruthy();
  });

  it('attests and verifies keyless against the mock Sigstore, once per builder', async () => {
    const { img } = await image('keyless');
    const first = await attestImage(client, { image: img.ref, signing: keyless(), run, push: true }, log);
    const again = await attestImage(client, { image: img.ref, signing: keyless(), run, push: true }, log);
    expect(again.signed).toBe(false);
    expect(again.manifests[0]!.attestationDigest).toBe(first.manifests[0]!.attestationDigest);
    // Another issuer is another signer: its attestation is added.
    const other = await attestImage(
      client,
      { image: img.ref, signing: keyless({ iss: 'https://other.example' }), run, push: true },
      log,
    );
    expect(other.signed).toBe(true);
    const v = await verifyImage(
      client,
      img.ref,
      keylessPolicy({ sourceRepository: 'org/app', sourceRef: 'refs/tags/v*' }),
      log,
    );
    expect(v.manifests[0]!.signer).toMatchObject({ kind: 'keyless', subject: IDENTITY });
    await expect(
      verifyImage(
        client,
        img.ref,
        keylessPolicy({
          certificateIdentity: undefined,
          certificateIdentityRegexp: 'https://github\\.com/org/app/\\.github/workflows/.*',
        }),
        log,
      ),
    ).resolves.toBeTruthy();
  });

  // Each row: how the attestation is made, the policy, and the specific message it is refused with.
  const tampering: [
    string,
    (repo: Reference, img: Descriptor & { ref: Reference & { digest: Digest } }) => Promise<unknown>,
    () => VerifyPolicy,
    RegExp,
  ][] = [
    [
      'payload edited',
      (repo, img) =>
        attach(
          repo,
          img,
          { kind: 'key', key: keyA },
          {
            bundle: (b) => {
              const s = JSON.parse(Buffer.from(b.dsseEnvelope!.payload, 'base64').toString());
              s.predicate.runDetails.builder.id =
                'https://github.com/org/app-evil/.github/workflows/x.yml@refs/heads/main';
              b.dsseEnvelope!.payload = Buffer.from(JSON.stringify(s)).toString('base64');
            },
          },
        ),
      () => keyPolicy(),
      /its signature does not match its payload: the attestation was changed after signing/,
    ],
    [
      'payload edited (keyless)',
      (repo, img) =>
        attach(repo, img, keyless(), {
          bundle: (b) => {
            b.dsseEnvelope!.payload = Buffer.from(
              Buffer.from(b.dsseEnvelope!.payload, 'base64')
                .toString()
                .replace('refs/tags/v1.0.0', 'refs/tags/v9.9.9'),
            ).toString('base64');
          },
        }),
      () => keylessPolicy(),
      /its signature does not match its payload/,
    ],
    [
      'subject re-pointed at another digest',
      (repo, img) => attach(repo, img, { kind: 'key', key: keyA }, { about: `sha256:${'e'.repeat(64)}` }),
      () => keyPolicy(),
      new RegExp(`its statement is about sha256:${'e'.repeat(64)}, not sha256:`),
    ],
    [
      'signature by another key',
      (repo, img) => attach(repo, img, { kind: 'key', key: keyB }),
      () => keyPolicy(),
      new RegExp(
        `it is signed by another key \\(hint ${keyB.hint}\\), not public-key \\(hint ${keyA.hint}\\)`,
      ),
    ],
    [
      'identity from another repository',
      (repo, img) =>
        attach(
          repo,
          img,
          keyless({
            sub: 'https://github.com/org/app-evil/.github/workflows/release.yml@refs/tags/v1.0.0',
            repository: 'org/app-evil',
          }),
        ),
      () =>
        keylessPolicy({
          certificateIdentity: undefined,
          certificateIdentityRegexp: 'https://github\\.com/org/app/.*',
        }),
      /its certificate identity https:\/\/github\.com\/org\/app-evil\/\.github\/workflows\/release\.yml@refs\/tags\/v1\.0\.0 does not match/,
    ],
    [
      'source repository from another repository',
      (repo, img) => attach(repo, img, keyless({ repository: 'org/app-evil' })),
      () => keylessPolicy({ sourceRepository: 'org/app' }),
      /its certificate's source repository is https:\/\/github\.com\/org\/app-evil, not org\/app/,
    ],
    [
      'wrong issuer',
      (repo, img) => attach(repo, img, keyless({ iss: 'https://issuer.evil.example' })),
      () => keylessPolicy(),
      /its certificate was issued for tokens of https:\/\/issuer\.evil\.example, not https:\/\/token\.actions\.githubusercontent\.com/,
    ],
    [
      'wrong source ref',
      (repo, img) =>
        attach(
          repo,
          img,
          { kind: 'key', key: keyA },
          {
            statement: (s) => {
              s.predicate.buildDefinition.externalParameters.workflow.ref = 'refs/heads/feature';
            },
          },
        ),
      () => keyPolicy({ sourceRef: 'refs/tags/v*' }),
      /its source ref is refs\/heads\/feature, which does not match refs\/tags\/v\*/,
    ],
    [
      'wrong predicate type',
      (repo, img) =>
        attach(
          repo,
          img,
          { kind: 'key', key: keyA },
          {
            statement: (s) => {
              s.predicateType = 'https://example.com/other/v1';
            },
          },
        ),
      () => keyPolicy(),
      /its predicate type is https:\/\/example\.com\/other\/v1, not https:\/\/slsa\.dev\/provenance\/v1/,
    ],
    [
      'two signatures',
      (repo, img) =>
        attach(
          repo,
          img,
          { kind: 'key', key: keyA },
          {
            bundle: (b) => {
              b.dsseEnvelope!.signatures.push({ ...b.dsseEnvelope!.signatures[0]!, keyid: 'second' });
            },
          },
        ),
      () => keyPolicy(),
      /its DSSE envelope has 2 signatures; exactly one is required/,
    ],
    [
      'no attestation at all',
      async () => {},
      () => keyPolicy(),
      /has no attestation of predicate type https:\/\/slsa\.dev\/provenance\/v1\. Run anew\/attest/,
    ],
    [
      'signed with a key where the policy wants keyless',
      (repo, img) => attach(repo, img, { kind: 'key', key: keyA }),
      () => keylessPolicy(),
      /it is signed with a key \(hint [0-9a-f]+\); set public-key/,
    ],
    [
      'keyless without its transparency-log entry',
      (repo, img) =>
        attach(repo, img, keyless(), {
          bundle: (b) => {
            b.verificationMaterial.tlogEntries = [];
          },
        }),
      () => keylessPolicy(),
      /its signature does not verify: .*expected 1 (timestamps|tlog entries), got 0/,
    ],
  ];

  it.each(tampering)('refuses: %s', async (name, make, policy, message) => {
    const { repo, img } = await image(name.replace(/[^a-z]+/g, '-'));
    await make(repo, img);
    const err = await verifyImage(client, img.ref, policy(), log).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.name).toBe('UserError');
    expect(err?.message).toMatch(message);
  });

  it('refuses: attestation only for another platform', async () => {
    const repo = uniqueRepo(services.registry, 'platform');
    const idx = await pushTinyIndex(client, repo, crypto.randomUUID());
    const indexDesc: Descriptor = {
      mediaType: MediaType.ociIndex,
      digest: idx.ref.digest,
      size: (await client.getManifest(idx.ref)).bytes.length,
    };
    await attach(repo, indexDesc, { kind: 'key', key: keyA });
    await attach(repo, idx.amd64, { kind: 'key', key: keyA });
    await expect(verifyImage(client, idx.ref, keyPolicy(), log)).rejects.toThrow(
      new RegExp(`platform linux/arm64 \\(${idx.arm64.digest}\\) of .* has no attestation`),
    );
    // And verifying the arm64 manifest by itself: nothing is attached to it.
    await expect(
      verifyImage(
        client,
        repo.withDigest(idx.arm64.digest) as Reference & { digest: Digest },
        keyPolicy(),
        log,
      ),
    ).rejects.toThrow(/has no attestation/);
  });

  it('passes when one good attestation sits beside refused ones, and logs why each was refused', async () => {
    const { repo, img } = await image('mixed');
    await attach(repo, img, { kind: 'key', key: keyB });
    await attach(repo, img, { kind: 'key', key: keyA });
    const mlog = new MemoryLogger();
    await verifyImage(client, img.ref, keyPolicy(), mlog);
    expect(mlog.text()).toMatch(
      /warning: attestation sha256:[0-9a-f]{64} of sha256:[0-9a-f]{64} refused: it is signed by another key/,
    );
  });

  it('checks the policy before contacting anything', async () => {
    const ref = uniqueRepo('127.0.0.1:9', 'none').withDigest(`sha256:${'0'.repeat(64)}`) as Reference & {
      digest: Digest;
    };
    await expect(verifyImage(client, ref, defaultPolicy(), log)).rejects.toThrow(/no signer is required/);
    await expect(verifyImage(client, ref, keyPolicy({ certificateIdentity: IDENTITY }), log)).rejects.toThrow(
      /public-key is set together with certificate-identity/,
    );
    await expect(
      verifyImage(client, ref, keylessPolicy({ certificateIdentityRegexp: 'x' }), log),
    ).rejects.toThrow(/both certificate-identity and certificate-identity-regexp/);
    await expect(
      verifyImage(
        client,
        ref,
        keylessPolicy({ certificateIdentity: undefined, certificateIdentityRegexp: '(' }),
        log,
      ),
    ).rejects.toThrow(/not a valid regular expression/);
  });
});
