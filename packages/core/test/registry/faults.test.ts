import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseReference, type Reference } from '@anew/core/ref';
import {
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  fallbackTag,
  MediaType,
  RegistryClient,
  sha256,
} from '@anew/core/registry';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../../../test/helpers/fault-proxy.ts';
import { services } from '../../../../test/helpers/services.ts';

/**
 * The client through a proxy that injects faults in front of the real
 * registry: transient faults are retried to success, permanent ones fail
 * clearly, and content that does not match its digest is never accepted.
 */
let proxy: FaultProxy;
let repo: Reference;
const fast = { retry: { attempts: 4, minDelayMs: 5, maxDelayMs: 20 } };
const client = () => new RegistryClient(fast);

beforeAll(async () => {
  proxy = await new FaultProxy(services.registry).start();
});
afterAll(async () => {
  await proxy.stop();
});
beforeEach(() => {
  proxy.rule = () => undefined;
  proxy.log.length = 0;
  repo = parseReference(
    `${proxy.host}/anew-faults/r${Date.now().toString(36)}${randomBytes(2).toString('hex')}`,
  );
});

async function seed(bytes = randomBytes(10_000)) {
  const c = client();
  const blob = await c.pushBlob(repo, bytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: blob.digest, size: blob.size },
      layers: [],
    }),
  );
  const digest = await c.putManifest(repo, manifest, MediaType.ociManifest, 'latest');
  return { bytes, blob, manifest, digest };
}

/** An artifact manifest that refers to `subject` (the empty JSON blob must be in the repository). */
function artifact(subject: { digest: string; manifest: Buffer }, n: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: 'application/vnd.example+json',
      config: EMPTY_DESCRIPTOR,
      layers: [EMPTY_DESCRIPTOR],
      annotations: { n },
      subject: { mediaType: MediaType.ociManifest, digest: subject.digest, size: subject.manifest.length },
    }),
  );
}

describe('transient faults are retried', () => {
  it('503 with Retry-After, then success', async () => {
    const { bytes, blob } = await seed();
    proxy.rule = ({ method, path, n }) =>
      method === 'GET' && path.includes('/blobs/') && n <= 2
        ? { kind: 'status', status: 503, retryAfter: '0' }
        : undefined;
    expect(await client().getBlob(repo, blob.digest)).toEqual(bytes);
    expect(proxy.log.filter((e) => e.status === 503)).toHaveLength(2);
  });

  it('429 on upload start, then success', async () => {
    proxy.rule = ({ method, n }) =>
      method === 'POST' && n === 1 ? { kind: 'status', status: 429 } : undefined;
    const r = await client().pushBlob(repo, randomBytes(500));
    expect(r.uploaded).toBe(true);
    expect(await client().blobExists(repo, r.digest)).toBe(true);
  });

  it('a connection reset in the middle of a blob', async () => {
    const { bytes, blob } = await seed();
    proxy.rule = ({ method, path, n }) =>
      method === 'GET' && path.includes('/blobs/') && n === 1 ? { kind: 'reset' } : undefined;
    expect(await client().getBlob(repo, blob.digest)).toEqual(bytes);
  });

  it('a truncated body', async () => {
    const { bytes, blob } = await seed();
    proxy.rule = ({ method, path, n }) =>
      method === 'GET' && path.includes('/blobs/') && n === 1 ? { kind: 'truncate' } : undefined;
    expect(await client().getBlob(repo, blob.digest)).toEqual(bytes);
  });

  it('a flipped byte is refused, and the next clean read accepted', async () => {
    const { bytes, blob } = await seed();
    proxy.rule = ({ method, path, n }) =>
      method === 'GET' && path.includes('/blobs/') && n === 1 ? { kind: 'flip' } : undefined;
    expect(await client().getBlob(repo, blob.digest)).toEqual(bytes);
    expect(proxy.log.filter((e) => e.fault === 'flip')).toHaveLength(1);
  });

  it('a chunked upload resumes where the registry says after a dropped connection', async () => {
    const big = randomBytes(200 * 1024);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anew-faults-')), 'blob');
    fs.writeFileSync(file, big);
    proxy.rule = ({ method, n }) =>
      method === 'PATCH' && n === 2 ? { kind: 'reset-upload', afterBytes: 20 * 1024 } : undefined;
    const c = new RegistryClient({ ...fast, chunkSize: 64 * 1024 });
    expect((await c.pushBlobFile(repo, file, sha256(big), big.length)).uploaded).toBe(true);
    expect(await client().getBlob(repo, sha256(big))).toEqual(big);
    // It asked where to resume instead of starting over.
    expect(proxy.count('GET', '/blobs/uploads/')).toBeGreaterThanOrEqual(1);
    expect(proxy.count('POST', '/blobs/uploads/')).toBe(1);
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe('chunked uploads resume where the registry says', () => {
  it('a PATCH dropped before any byte arrived resumes at 0: "Range: 0-0" is not one byte', async () => {
    const big = randomBytes(150 * 1024);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anew-faults-')), 'blob');
    fs.writeFileSync(file, big);
    proxy.rule = ({ method, n }) =>
      method === 'PATCH' && n === 1 ? { kind: 'reset-upload', afterBytes: 0 } : undefined;
    const c = new RegistryClient({ ...fast, chunkSize: 64 * 1024 });
    expect((await c.pushBlobFile(repo, file, sha256(big), big.length)).uploaded).toBe(true);
    expect(await client().getBlob(repo, sha256(big), big.length)).toEqual(big);
    expect(proxy.count('POST', '/blobs/uploads/')).toBe(1);
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe('the referrers tag index under contention', () => {
  it('ten parallel attestations all survive writes retried several seconds later', async () => {
    const seeded = await seed();
    const subject = seeded.digest;
    const c = client();
    await c.pushBlob(repo, EMPTY_JSON);
    const tag = fallbackTag(subject);
    // The first three writes of the index are turned away for three seconds: long enough for
    // the other writers to finish, so a client that resends what it had would drop their entries.
    proxy.rule = ({ method, path, n }) =>
      method === 'PUT' && path.endsWith(`/manifests/${tag}`) && n <= 3
        ? { kind: 'status', status: 503, retryAfter: '3' }
        : undefined;
    const pushed = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        c.pushReferrer(repo, artifact(seeded, String(i)), MediaType.ociManifest),
      ),
    );
    expect(proxy.log.filter((e) => e.status === 503)).toHaveLength(3);
    const found = await client().referrers(repo, subject, 'application/vnd.example+json');
    expect(found.map((d) => d.digest).sort()).toEqual([...pushed].sort());
  });
});

describe('a tag index overwritten after the write', () => {
  it('is written again when another writer replaces it a quarter second later', async () => {
    const seeded = await seed();
    const subject = seeded.digest;
    const c = client();
    await c.pushBlob(repo, EMPTY_JSON);
    const tag = fallbackTag(subject);
    // The other writer's artifact is in the repository; its index names only that one, as if it
    // had read the index before our write and wrote its own after it.
    const theirs = artifact(seeded, 'theirs');
    const theirDigest = await c.putManifest(repo, theirs, MediaType.ociManifest);
    const staleIndex = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          {
            mediaType: MediaType.ociManifest,
            digest: theirDigest,
            size: theirs.length,
            artifactType: 'application/vnd.example+json',
          },
        ],
      }),
    );
    let other: Promise<unknown> | undefined;
    proxy.rule = ({ method, path }) => {
      if (method === 'PUT' && path.endsWith(`/manifests/${tag}`) && !other)
        other = new Promise((r) => setTimeout(r, 250)).then(() =>
          client().putManifest(repo, staleIndex, MediaType.ociIndex, tag),
        );
      return undefined;
    };
    const ours = await c.pushReferrer(repo, artifact(seeded, 'ours'), MediaType.ociManifest);
    await other;
    const found = (await client().referrers(repo, subject, 'application/vnd.example+json')).map(
      (d) => d.digest,
    );
    // Ours is back, merged with theirs: written once, replaced, read missing, written again.
    expect(found.sort()).toEqual([ours, theirDigest].sort());
    expect(proxy.count('PUT', `/manifests/${tag}`)).toBeGreaterThanOrEqual(3);
  });
});

describe('a recorded referrer, before its confirmation', () => {
  it('is reported once, already in the tag index, before the call returns', async () => {
    const seeded = await seed();
    const c = client();
    await c.pushBlob(repo, EMPTY_JSON);
    const art = artifact(seeded, 'one');
    let calls = 0;
    let returned = false;
    let seenThen: Promise<string[]> | undefined;
    let returnedThen = true;
    const [ours] = await c.pushReferrers(repo, [{ bytes: art, mediaType: MediaType.ociManifest }], () => {
      calls++;
      returnedThen = returned;
      seenThen = client()
        .referrers(repo, seeded.digest)
        .then((l) => l.map((d) => d.digest));
    });
    returned = true;
    expect(calls).toBe(1);
    expect(returnedThen).toBe(false);
    expect(await seenThen).toEqual([ours]);
  });
});

describe('uploads damaged on the way are sent again', () => {
  it('a manifest whose bytes the registry got damaged (DIGEST_INVALID) is put again', async () => {
    const { blob } = await seed();
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: blob.digest, size: blob.size },
        layers: [],
        annotations: { n: String(Date.now()) },
      }),
    );
    proxy.rule = ({ method, path, n }) =>
      method === 'PUT' && path.includes('/manifests/sha256:') && n === 1
        ? { kind: 'flip-upload' }
        : undefined;
    const digest = await client().putManifest(repo, manifest, MediaType.ociManifest);
    expect(digest).toBe(sha256(manifest));
    expect(proxy.log.filter((e) => e.method === 'PUT' && e.status === 400)).toHaveLength(1);
    expect((await client().getManifest(repo.withDigest(digest))).bytes).toEqual(manifest);
  });

  it('a blob damaged on its monolithic PUT is uploaded again in a fresh session', async () => {
    const bytes = randomBytes(5000);
    proxy.rule = ({ method, path }) =>
      method === 'PUT' && path.includes('/blobs/uploads/') && proxy.count('PUT', '/blobs/uploads/') === 0
        ? { kind: 'flip-upload' }
        : undefined;
    const r = await client().pushBlob(repo, bytes);
    expect(r.uploaded).toBe(true);
    expect(proxy.count('POST', '/blobs/uploads/')).toBe(2);
    expect(await client().getBlob(repo, r.digest)).toEqual(bytes);
  });
});

describe('content that does not match its digest is never accepted', () => {
  it('a blob corrupted on every read fails, naming the digest', async () => {
    const { blob } = await seed();
    proxy.rule = ({ method, path }) =>
      method === 'GET' && path.includes('/blobs/') ? { kind: 'flip' } : undefined;
    await expect(client().getBlob(repo, blob.digest)).rejects.toThrow(
      new RegExp(`not ${blob.digest}.*refused after 4 attempts`),
    );
  });

  it('a manifest by digest corrupted on every read fails', async () => {
    const { digest } = await seed();
    proxy.rule = ({ method, path }) =>
      method === 'GET' && path.includes('/manifests/') ? { kind: 'flip' } : undefined;
    await expect(client().getManifest(repo.withDigest(digest))).rejects.toThrow(/hashes to sha256:.*refused/);
  });

  it('a wrong Docker-Content-Digest header is ignored: the computed digest counts', async () => {
    const { digest, manifest } = await seed();
    proxy.rule = ({ method, path }) =>
      path.includes('/manifests/') && method === 'GET' ? { kind: 'wrong-digest-header' } : undefined;
    const byTag = await client().getManifest(repo.withTag('latest'));
    expect(byTag.digest).toBe(digest);
    expect(byTag.digest).toBe(sha256(manifest));
    expect((await client().resolve(repo.withTag('latest')))?.digest).toBe(digest);
    expect(proxy.log.some((e) => e.fault === 'wrong-digest-header')).toBe(true);
  });
});

describe('permanent errors fail at once with the registry code', () => {
  it('404 MANIFEST_UNKNOWN on a missing digest, one request', async () => {
    await seed();
    const missing = repo.withDigest(sha256('nothing here'));
    await expect(client().getManifest(missing)).rejects.toThrow(/404 MANIFEST_UNKNOWN/);
    expect(proxy.count('GET', '/manifests/')).toBe(1);
  });

  it('400 MANIFEST_INVALID on a manifest whose blobs are missing', async () => {
    const bad = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: sha256('absent'), size: 6 },
        layers: [],
      }),
    );
    await expect(client().putManifest(repo, bad, MediaType.ociManifest, 'x')).rejects.toThrow(
      /400 MANIFEST_BLOB_UNKNOWN|400 MANIFEST_INVALID/,
    );
    expect(proxy.count('PUT', '/manifests/')).toBe(1);
  });

  it('a persistent 503 gives up after the configured attempts with a clear message', async () => {
    proxy.rule = () => ({ kind: 'status', status: 503 });
    await expect(client().blobExists(repo, sha256('x'))).rejects.toThrow(/answered HEAD .* with 503/);
    expect(proxy.log).toHaveLength(4);
  });
});
