import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseRepository, type Reference } from '@anew/core/ref';
import { type Descriptor, fallbackTag, MediaType, RegistryClient } from '@anew/core/registry';
import { afterAll, describe, expect, it } from 'vitest';
import { pushTinyImage, pushTinyIndex, uniqueRepo } from './fixtures/sigstore/tiny-image.ts';
import { newKeyPair, workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { NODE24, repoRoot, runAction } from './helpers/action.ts';
import { FaultProxy } from './helpers/fault-proxy.ts';
import { ReferrersApiProxy } from './helpers/referrers-api.ts';
import { type RunningService, services, servicesDir, startRegistry } from './helpers/services.ts';

/** The commit the main-branch build was made from, as the release tag names it. */
const COMMIT = 'a'.repeat(40);

describe('anew/promote (committed bundle) across real registries', () => {
  const client = new RegistryClient();
  const key = newKeyPair();
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  const registry = async (opts: { htpasswd?: string } = {}): Promise<RunningService> => {
    const r = await startRegistry(opts);
    cleanup.push(() => r.stop());
    return r;
  };
  const proxy = async (upstream: string): Promise<FaultProxy> => {
    const p = await new FaultProxy(upstream).start();
    cleanup.push(() => p.stop());
    return p;
  };

  /** Attested as the main-branch build of COMMIT: the release flow's source. */
  const attest = async (image: Reference) => {
    const r = await runAction(
      'attest',
      { image: image.toString(), 'signing-key': key.privatePem },
      { env: workflowEnv('build.yml', 'refs/heads/main') },
    );
    expect(r.code, r.log).toBe(0);
  };
  /** The release policy: the main-branch build of the tagged commit. */
  const policy = {
    'public-key': key.publicPem,
    'source-repository': 'org/app',
    'source-ref': 'refs/heads/main',
    'source-commit': COMMIT,
  };

  /** Every tag of `repo` reaches content that is all there: no tag points at a missing manifest or blob. */
  const expectNoDanglingTag = async (c: RegistryClient, repo: Reference) => {
    for (const tag of await c.listTags(repo)) {
      const m = await c.getManifest(repo.withTag(tag));
      const children: Descriptor[] = m.json.manifests ?? [];
      for (const d of children)
        expect(await c.resolve(repo.withDigest(d.digest)), `${tag} → ${d.digest}`).toBeTruthy();
      const blobs: Descriptor[] = [...(m.json.config ? [m.json.config] : []), ...(m.json.layers ?? [])];
      for (const b of blobs) expect(await c.blobExists(repo, b.digest), `${tag} → ${b.digest}`).toBe(true);
    }
  };

  it('promotes to another registry (with its own credentials) at the same digest, with the attestation, and writes the tags last', async () => {
    const src = uniqueRepo(services.registry, 'promote-src');
    const img = await pushTinyImage(client, src, crypto.randomUUID());
    await attest(img.ref);
    const { username, password } = services.authRegistry;
    const dest = await registry({ htpasswd: path.join(servicesDir(), 'htpasswd') });
    const to = parseRepository(`${dest.host}/prod/app`);

    const r = await runAction(
      'promote',
      {
        image: img.ref.toString(),
        to: to.toString(),
        tags: 'v1.0.0\nproduction',
        ...policy,
        'to-registry-username': username,
        'to-registry-password': password,
      },
      { node: NODE24 },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['digest']).toBe(img.digest);
    expect(r.outputs['image']).toBe(`${to.name}@${img.digest}`);
    expect(
      r.log
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    ).not.toContain(password);
    expect(r.summary).toMatch(/Blobs copied.*<code>4 \(/s);

    const destClient = new RegistryClient({ credentials: { [dest.host]: { username, password } } });
    const srcManifest = await client.getManifest(img.ref);
    const destManifest = await destClient.getManifest(to.withDigest(img.digest));
    expect(destManifest.bytes.equals(srcManifest.bytes)).toBe(true);
    for (const tag of ['v1.0.0', 'production'])
      expect((await destClient.resolve(to.withTag(tag)))?.digest).toBe(img.digest);
    // The attestation travelled: verify at the destination passes with the same policy.
    const v = await runAction('verify', {
      image: r.outputs['image']!,
      ...policy,
      'registry-username': username,
      'registry-password': password,
    });
    expect(v.code, v.log).toBe(0);
    await expectNoDanglingTag(destClient, to);

    // Again: everything is there; nothing is copied twice and no referrer is written twice.
    const again = await runAction('promote', {
      image: img.ref.toString(),
      to: to.toString(),
      tags: 'v1.0.0',
      ...policy,
      'to-registry-username': username,
      'to-registry-password': password,
    });
    expect(again.code, again.log).toBe(0);
    expect(again.summary).toMatch(/Blobs copied.*<code>0 \(0 bytes\)/s);
    expect(again.summary).toMatch(/Referrers.*<code>0 written, 1 already there/s);
  });

  it('writes nothing at the destination when verification fails: no blob, no manifest, no tag', async () => {
    const src = uniqueRepo(services.registry, 'promote-refused');
    const img = await pushTinyImage(client, src, crypto.randomUUID());
    await attest(img.ref);
    const dest = await registry();
    const to = parseRepository(`${dest.host}/prod/app`);
    // What the destination already holds: production is another image.
    const live = await pushTinyImage(client, to, crypto.randomUUID());
    await client.putManifest(
      to,
      (await client.getManifest(live.ref)).bytes,
      MediaType.ociManifest,
      'production',
    );
    const catalog = async () => (await fetch(`http://${dest.host}/v2/_catalog`)).json();
    const before = { catalog: await catalog(), tags: await client.listTags(to) };
    const files = () => fs.readdirSync(dest.dir, { recursive: true }).map(String).sort();
    const filesBefore = files();

    const refusals: [Record<string, string>, RegExp][] = [
      [{ ...policy, 'public-key': newKeyPair().publicPem }, /it is signed by another key/],
      // The release flow's check: a build of another commit is not the one the tag names.
      [{ ...policy, 'source-commit': 'b'.repeat(40) }, /its source commit is a{40}, not b{40}/],
      [
        { ...policy, 'source-ref': 'refs/tags/v*' },
        /its source ref is refs\/heads\/main, which does not match/,
      ],
    ];
    for (const [p, reason] of refusals) {
      const r = await runAction('promote', {
        image: img.ref.toString(),
        to: to.toString(),
        tags: 'production',
        ...p,
      });
      expect(r.code).not.toBe(0);
      expect(r.log).toMatch(reason);
      expect(r.outputs['image']).toBeUndefined();
    }
    expect(await catalog()).toEqual(before.catalog);
    expect(await client.listTags(to)).toEqual(before.tags);
    expect((await client.resolve(to.withTag('production')))?.digest).toBe(live.digest);
    expect(await client.blobExists(to, (await client.getManifest(img.ref)).json.layers[0].digest)).toBe(
      false,
    );
    // Not even an upload session was opened.
    expect(files()).toEqual(filesBefore);
  });

  it('refuses a tag as the image and a tag or digest in "to", before anything is read', async () => {
    const host = services.registry;
    const tagged = await runAction('promote', { image: `${host}/x/app:v1`, to: `${host}/y/app`, ...policy });
    expect(tagged.code).not.toBe(0);
    expect(tagged.log).toMatch(/input "image".*(digest|sha256)/);
    const toTagged = await runAction('promote', {
      image: `${host}/x/app@sha256:${'0'.repeat(64)}`,
      to: `${host}/y/app:v1`,
      ...policy,
    });
    expect(toTagged.code).not.toBe(0);
    expect(toTagged.log).toMatch(/input "to" ".*y\/app:v1" must name a repository without tag or digest/);
    const twoUsers = await runAction('promote', {
      image: `${host}/x/app@sha256:${'0'.repeat(64)}`,
      to: `${host}/y/app`,
      ...policy,
      'registry-username': 'reader',
      'registry-password': 'secret-1',
      'to-registry-username': 'writer',
      'to-registry-password': 'secret-2',
    });
    expect(twoUsers.code).not.toBe(0);
    expect(twoUsers.log).toMatch(/both on .*, with two different users/);
  });

  it('on one registry mounts every blob: no layer byte is uploaded', async () => {
    const via = await proxy(services.registry);
    const src = uniqueRepo(services.registry, 'promote-same');
    const layer = crypto.randomBytes(256 * 1024);
    const img = await pushTinyImage(client, src, layer.toString('hex'));
    await attest(img.ref);
    const srcVia = parseRepository(`${via.host}/${src.repository}`);
    const to = parseRepository(`${via.host}/${src.repository}-prod`);

    const r = await runAction('promote', {
      image: srcVia.withDigest(img.digest).toString(),
      to: to.toString(),
      tags: 'v1.0.0',
      ...policy,
    });
    expect(r.code, r.log).toBe(0);
    const uploads = /\/blobs\/uploads\//;
    expect(via.sent('PATCH', uploads) + via.sent('PUT', uploads)).toBe(0);
    // The layer, the config, the empty config of the attestation and its bundle.
    expect(via.count('POST', /\/blobs\/uploads\/\?mount=/)).toBe(4);
    expect(r.summary).toMatch(/Blobs mounted.*<code>4 \(/s);
    const v = await runAction('verify', { image: r.outputs['image']!, ...policy });
    expect(v.code, v.log).toBe(0);
  });

  it('killed mid-copy leaves no tag at the destination; run again, it completes', async () => {
    const src = uniqueRepo(services.registry, 'promote-kill');
    const repoLayers: Descriptor[] = [];
    for (let i = 0; i < 3; i++) {
      const b = await client.pushBlob(src, crypto.randomBytes(512 * 1024));
      repoLayers.push({ mediaType: MediaType.ociLayer, digest: b.digest, size: b.size });
    }
    const config = await client.pushBlob(
      src,
      Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64' })),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
        layers: repoLayers,
      }),
    );
    const digest = await client.putManifest(src, manifest, MediaType.ociManifest);
    const image = src.withDigest(digest);
    await attest(image);

    const dest = await registry();
    const via = await proxy(dest.host);
    const to = parseRepository(`${via.host}/prod/app`);
    let reached!: () => void;
    const midCopy = new Promise<void>((r) => {
      reached = r;
    });
    // The first blob that goes up is held, and the process is killed while it waits.
    via.rule = ({ method, path: p }) => {
      if ((method === 'PUT' || method === 'PATCH') && p.includes('/blobs/uploads/')) {
        reached();
        return { kind: 'hang' };
      }
      return undefined;
    };
    const killed = await runAction(
      'promote',
      { image: image.toString(), to: to.toString(), tags: 'v1.0.0\nproduction', ...policy },
      { killWhen: midCopy },
    );
    expect(killed.code, killed.log).toBe(137);
    const direct = parseRepository(`${dest.host}/prod/app`);
    const tags = await client.listTags(direct);
    expect(tags).not.toContain('v1.0.0');
    expect(tags).not.toContain('production');
    expect(await client.resolve(direct.withDigest(digest))).toBeUndefined();
    await expectNoDanglingTag(client, direct);

    via.rule = () => undefined;
    const r = await runAction('promote', {
      image: image.toString(),
      to: to.toString(),
      tags: 'v1.0.0\nproduction',
      ...policy,
    });
    expect(r.code, r.log).toBe(0);
    for (const tag of ['v1.0.0', 'production'])
      expect((await client.resolve(direct.withTag(tag)))?.digest).toBe(digest);
    await expectNoDanglingTag(client, direct);
    const v = await runAction('verify', { image: direct.withDigest(digest).toString(), ...policy });
    expect(v.code, v.log).toBe(0);
  });

  it('promotes a multi-platform index whole: every platform manifest and every attestation', async () => {
    const src = uniqueRepo(services.registry, 'promote-index');
    const index = await pushTinyIndex(client, src, crypto.randomUUID());
    await attest(index.ref);
    const dest = await registry();
    const to = parseRepository(`${dest.host}/prod/app`);

    const r = await runAction('promote', {
      image: index.ref.toString(),
      to: to.toString(),
      tags: 'v2.0.0',
      ...policy,
    });
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['digest']).toBe(index.ref.digest);
    expect(r.summary).toMatch(/Manifests.*<code>3</s);
    const copied = await client.getManifest(to.withTag('v2.0.0'));
    expect(copied.bytes.equals((await client.getManifest(index.ref)).bytes)).toBe(true);
    for (const p of [index.amd64, index.arm64]) {
      const m = await client.getManifest(to.withDigest(p.digest));
      for (const b of [m.json.config, ...m.json.layers] as Descriptor[])
        expect(await client.blobExists(to, b.digest)).toBe(true);
    }
    // verify checks the index and each platform: each attestation travelled.
    const v = await runAction('verify', { image: r.outputs['image']!, ...policy });
    expect(v.code, v.log).toBe(0);
    expect(v.summary).toContain('linux/arm64');
  });

  it('runs from the CLI, the destination password from stdin, the key from a file', async () => {
    const src = uniqueRepo(services.registry, 'promote-cli');
    const img = await pushTinyImage(client, src, crypto.randomUUID());
    await attest(img.ref);
    const { username, password } = services.authRegistry;
    const dest = await registry({ htpasswd: path.join(servicesDir(), 'htpasswd') });
    const keyFile = path.join(dest.dir, 'cosign.pub');
    fs.writeFileSync(keyFile, key.publicPem);
    const to = `${dest.host}/prod/app`;
    const r = spawnSync(
      process.execPath,
      [
        path.join(repoRoot, 'dist/cli/index.cjs'),
        'promote',
        '--image',
        img.ref.toString(),
        '--to',
        to,
        '--tags',
        'v3',
        '--public-key',
        keyFile,
        '--source-commit',
        COMMIT,
        '--to-registry-username',
        username,
        '--to-registry-password-stdin',
      ],
      { encoding: 'utf8', input: `${password}\n`, env: { ...process.env, GITHUB_OUTPUT: '' } },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`image=${to}@${img.digest}`);
    expect(r.stdout + r.stderr).not.toContain(password);
    const destClient = new RegistryClient({ credentials: { [dest.host]: { username, password } } });
    expect((await destClient.resolve(parseRepository(to).withTag('v3')))?.digest).toBe(img.digest);
  });

  it('reads and writes the referrers each side its own way: tag index → referrers API → tag index', async () => {
    const src = uniqueRepo(services.registry, 'promote-api');
    const img = await pushTinyImage(client, src, crypto.randomUUID());
    await attest(img.ref);
    const withApi = await registry();
    const api = new ReferrersApiProxy(withApi.host);
    await api.start();
    cleanup.push(() => api.stop());
    const plain = await registry();

    const toApi = await runAction('promote', {
      image: img.ref.toString(),
      to: `${api.host}/prod/app`,
      ...policy,
    });
    expect(toApi.code, toApi.log).toBe(0);
    // Recorded through the API: no tag index was written there.
    expect(await client.listTags(parseRepository(`${withApi.host}/prod/app`))).not.toContain(
      fallbackTag(img.digest),
    );
    const apiRepo = parseRepository(`${api.host}/prod/app`);
    expect(await client.referrers(apiRepo, img.digest)).toHaveLength(1);

    const reads = api.apiReads;
    const toPlain = await runAction('promote', {
      image: toApi.outputs['image']!,
      to: `${plain.host}/prod/app`,
      tags: 'v1',
      ...policy,
    });
    expect(toPlain.code, toPlain.log).toBe(0);
    expect(api.apiReads).toBeGreaterThan(reads);
    const plainRepo = parseRepository(`${plain.host}/prod/app`);
    expect(await client.listTags(plainRepo)).toContain(fallbackTag(img.digest));
    const v = await runAction('verify', { image: toPlain.outputs['image']!, ...policy });
    expect(v.code, v.log).toBe(0);
  });
});
