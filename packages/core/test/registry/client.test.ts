import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseReference } from '@anew/core/ref';
import {
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  fallbackTag,
  MediaType,
  RegistryClient,
  sha256,
} from '@anew/core/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services, startRegistry } from '../../../../test/helpers/services.ts';

const unique = () => `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

function imageManifest(config: { digest: string; size: number }, layers: { digest: string; size: number }[]) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, ...config },
      layers: layers.map((l) => ({ mediaType: MediaType.ociLayerGzip, ...l })),
    }),
  );
}

describe('RegistryClient against the real registry', () => {
  const client = new RegistryClient({ retry: { minDelayMs: 10, maxDelayMs: 50 } });
  let repo: ReturnType<typeof parseReference>;
  beforeAll(() => {
    repo = parseReference(`${services.registry}/anew-test/${unique()}`);
  });

  it('pushes blobs once, reads them back verified, and puts and gets manifests', async () => {
    const layer = randomBytes(4096);
    const config = Buffer.from(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    const a = await client.pushBlob(repo, layer);
    expect(a.uploaded).toBe(true);
    expect(a.digest).toBe(sha256(layer));
    expect((await client.pushBlob(repo, layer)).uploaded).toBe(false);
    expect(await client.blobExists(repo, a.digest)).toBe(true);
    expect(await client.getBlob(repo, a.digest, layer.length)).toEqual(layer);
    const c = await client.pushBlob(repo, config);
    const bytes = imageManifest(c, [a]);
    const digest = await client.putManifest(repo, bytes, MediaType.ociManifest, 'v1');
    expect(digest).toBe(sha256(bytes));
    const byTag = await client.getManifest(repo.withTag('v1'));
    expect(byTag.digest).toBe(digest);
    expect(byTag.bytes).toEqual(bytes);
    expect((await client.resolve(repo.withTag('v1')))?.digest).toBe(digest);
    expect(await client.resolve(repo.withTag('nope'))).toBeUndefined();
    expect(await client.listTags(repo)).toContain('v1');
  });

  it('uploads large blobs in chunks', async () => {
    const chunked = new RegistryClient({ chunkSize: 64 * 1024 });
    const big = randomBytes(300 * 1024);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anew-blob-')), 'blob');
    fs.writeFileSync(file, big);
    const r = await chunked.pushBlobFile(repo, file, sha256(big), big.length);
    expect(r.uploaded).toBe(true);
    expect(await client.getBlob(repo, sha256(big))).toEqual(big);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it('finds a blob larger than any document by HEAD: its Content-Length is no body to refuse', async () => {
    const big = randomBytes(6 * 1024 * 1024);
    const { digest } = await client.pushBlob(repo, big);
    expect(await client.blobExists(repo, digest)).toBe(true);
    expect((await client.pushBlob(repo, big)).uploaded).toBe(false);
  });

  it('mounts a blob across repositories instead of uploading it', async () => {
    const other = parseReference(`${services.registry}/anew-test/${unique()}`);
    const blob = randomBytes(2048);
    await client.pushBlob(repo, blob);
    const r = await client.pushBlob(other, blob, { mountFrom: [repo] });
    expect(r.uploaded).toBe(false);
    expect(await client.blobExists(other, r.digest)).toBe(true);
  });

  it('copies a blob: present, mounted on the same registry, copied (verified) to another', async () => {
    const blob = randomBytes(3000);
    const { digest, size } = await client.pushBlob(repo, blob);
    const sibling = parseReference(`${services.registry}/anew-test/${unique()}`);
    expect(await client.copyBlob(repo, sibling, { digest, size })).toBe('mounted');
    expect(await client.copyBlob(repo, sibling, { digest, size })).toBe('present');
    const other = await startRegistry();
    try {
      const away = parseReference(`${other.host}/anew-test/copy`);
      expect(await client.copyBlob(repo, away, { digest, size })).toBe('copied');
      expect(await client.getBlob(away, digest)).toEqual(blob);
    } finally {
      await other.stop();
    }
  });

  it('finds referrers through the sha256-<hex> tag index (distribution has no referrers API)', async () => {
    const layer = await client.pushBlob(repo, randomBytes(100));
    const cfg = await client.pushBlob(repo, Buffer.from('{}x'));
    const subjectBytes = imageManifest(cfg, [layer]);
    const subject = await client.putManifest(repo, subjectBytes, MediaType.ociManifest);
    await client.pushBlob(repo, EMPTY_JSON);
    const artifacts = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const payload = await client.pushBlob(repo, Buffer.from(`payload ${i}`));
        const art = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaType.ociManifest,
            artifactType: 'application/vnd.example+json',
            config: EMPTY_DESCRIPTOR,
            layers: [
              { mediaType: 'application/vnd.example+json', digest: payload.digest, size: payload.size },
            ],
            subject: { mediaType: MediaType.ociManifest, digest: subject, size: subjectBytes.length },
          }),
        );
        return client.pushReferrer(repo, art, MediaType.ociManifest);
      }),
    );
    const found = await client.referrers(repo, subject, 'application/vnd.example+json');
    expect(found.map((d) => d.digest).sort()).toEqual([...artifacts].sort());
    expect(await client.referrers(repo, subject, 'application/other')).toEqual([]);
    const index = await client.getManifest(repo.withTag(fallbackTag(subject)));
    expect(index.json.manifests).toHaveLength(6);
  });
});

describe('credentials', () => {
  const blob = Buffer.from(`secret blob ${Date.now()}`);

  it('uses basic credentials given as inputs', async () => {
    const { host, username, password } = services.authRegistry;
    const repo = parseReference(`${host}/anew-test/${unique()}`);
    const client = new RegistryClient({ credentials: { [host]: { username, password } } });
    expect((await client.pushBlob(repo, blob)).uploaded).toBe(true);
  });

  it('reads them from a docker config.json as docker/login-action writes it', async () => {
    const { host, username, password } = services.authRegistry;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-dockercfg-'));
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({
        auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } },
      }),
    );
    const repo = parseReference(`${host}/anew-test/${unique()}`);
    const client = new RegistryClient({ dockerConfig: path.join(dir, 'config.json') });
    expect(await client.blobExists(repo, sha256(blob))).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });

  it('fails at once, with what to do, without credentials or with wrong ones', async () => {
    const { host, username } = services.authRegistry;
    const repo = parseReference(`${host}/anew-test/${unique()}`);
    const none = new RegistryClient({ dockerConfig: '/nonexistent/config.json' });
    await expect(none.pushBlob(repo, blob)).rejects.toThrow(/requires credentials.*registry-username/);
    const wrong = new RegistryClient({ credentials: { [host]: { username, password: 'wrong-password' } } });
    await expect(wrong.pushBlob(repo, blob)).rejects.toThrow(/401 UNAUTHORIZED/);
  });

  it('refuses an unreadable docker config clearly', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-dockercfg-'));
    fs.writeFileSync(path.join(dir, 'config.json'), '{not json');
    const client = new RegistryClient({ dockerConfig: path.join(dir, 'config.json') });
    const repo = parseReference(`${services.authRegistry.host}/anew-test/x`);
    await expect(client.blobExists(repo, sha256('x'))).rejects.toThrow(/docker config .* is not valid JSON/);
    fs.rmSync(dir, { recursive: true });
  });
});

afterAll(() => {});
