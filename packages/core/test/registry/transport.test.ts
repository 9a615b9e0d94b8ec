import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseReference } from '@anew/core/ref';
import { MediaType, RegistryClient, sha256 } from '@anew/core/registry';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../../../test/helpers/fault-proxy.ts';
import { recordingServer } from '../../../../test/helpers/recording-server.ts';
import { services } from '../../../../test/helpers/services.ts';
import { nextLink } from '../../src/registry/referrers.ts';
import { received } from '../../src/registry/upload.ts';

/**
 * The transport against the real registry behind a fault proxy, and against
 * small loopback servers that answer as a hostile or unusual registry would.
 */
const fast = { retry: { attempts: 3, minDelayMs: 5, maxDelayMs: 20 } };
const unique = () => `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

/** A recording loopback server, stopped after each test. */
async function server(handle: Parameters<typeof recordingServer>[0]) {
  const s = await recordingServer(handle);
  stops.push(s.stop);
  return s;
}

describe('credentials stay with their registry', () => {
  it('a host a read is redirected to gets no credentials, and its challenge is not followed', async () => {
    const { host: authHost, username, password } = services.authRegistry;
    const other = await server((req, res, self) => {
      req.resume();
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${self}/token",service="storage"`,
        'content-type': 'application/json',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}');
    });
    const proxy = await new FaultProxy(authHost).start();
    stops.push(() => proxy.stop());
    const repo = parseReference(`${proxy.host}/anew-test/${unique()}`);
    const client = new RegistryClient({
      ...fast,
      credentials: { [proxy.host]: { username, password } },
    });
    const blob = randomBytes(100);
    await client.pushBlob(repo, blob);
    proxy.rule = ({ method, path }) =>
      method === 'GET' && path.includes('/blobs/sha256:')
        ? { kind: 'redirect', location: `http://${other.host}/storage/${sha256(blob)}` }
        : undefined;
    await expect(client.getBlob(repo, sha256(blob), blob.length)).rejects.toThrow(
      new RegExp(`${other.host}, where ${proxy.host} redirected GET .* asks for authentication`),
    );
    expect(other.seen.length).toBeGreaterThan(0);
    expect(other.seen.filter((r) => r.authorization !== undefined)).toEqual([]);
    expect(other.seen.filter((r) => r.path.startsWith('/token'))).toEqual([]);

    // Storage that takes the redirect as it is (a signed URL) serves the read, without credentials.
    const storage = await server((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.end(blob);
    });
    proxy.rule = ({ method, path }) =>
      method === 'GET' && path.includes('/blobs/sha256:')
        ? { kind: 'redirect', location: `http://${storage.host}/signed?x=1` }
        : undefined;
    expect(await client.getBlob(repo, sha256(blob), blob.length)).toEqual(blob);
    expect(storage.seen.map((r) => r.authorization)).toEqual([undefined]);
  });

  it('runs a credential helper once per registry, not once per request', async () => {
    const { host, username, password } = services.authRegistry;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-helper-'));
    const calls = path.join(dir, 'calls');
    const helper = path.join(dir, 'docker-credential-anewtest');
    fs.writeFileSync(
      helper,
      `#!/bin/sh\nread server\necho "$server" >> '${calls}'\nprintf '{"Username":"%s","Secret":"%s"}' '${username}' '${password}'\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ credHelpers: { [host]: 'anewtest' } }));
    const savedPath = process.env['PATH'];
    process.env['PATH'] = `${dir}:${savedPath}`;
    try {
      const client = new RegistryClient({ ...fast, dockerConfig: path.join(dir, 'config.json') });
      const repo = parseReference(`${host}/anew-test/${unique()}`);
      const pushed = await client.pushBlob(repo, randomBytes(300));
      for (let i = 0; i < 3; i++) expect(await client.blobExists(repo, pushed.digest)).toBe(true);
      expect(fs.readFileSync(calls, 'utf8').trim().split('\n')).toEqual([host]);
    } finally {
      process.env['PATH'] = savedPath;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('every read is bounded', () => {
  it('an endless manifest is cut off at 4 MiB with a clear error', async () => {
    let sent = 0;
    const endless = await server((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': MediaType.ociManifest });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      // Bounded: 1 GiB at most, and only while the client reads.
      const pump = () => {
        while (sent < 1024 ** 3 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => {
        sent = Math.min(sent, 1024 ** 3);
      });
      pump();
    });
    const client = new RegistryClient(fast);
    await expect(client.getManifest(parseReference(`${endless.host}/x/y:latest`))).rejects.toThrow(
      /answered GET \/v2\/x\/y\/manifests\/latest with more than 4 MiB, the most a manifest can have; refused/,
    );
    // The client stopped reading: far less than the 1 GiB the server would have sent.
    expect(sent).toBeLessThan(256 * 1024 * 1024);
    expect(endless.seen).toHaveLength(1);
  });

  it('a Content-Length above the limit is refused before the body is read', async () => {
    const big = await server((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': String(3 * 1024 ** 3) });
      res.write(Buffer.alloc(1024));
    });
    const client = new RegistryClient(fast);
    await expect(client.getManifest(parseReference(`${big.host}/x/y:latest`))).rejects.toThrow(
      /more than 4 MiB/,
    );
  });

  it('a blob larger than its descriptor says is refused', async () => {
    const blob = randomBytes(2000);
    const srv = await server((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(blob.length * 2) });
      res.end(Buffer.concat([blob, blob]));
    });
    const client = new RegistryClient(fast);
    await expect(
      client.getBlob(parseReference(`${srv.host}/x/y`), sha256(blob), blob.length),
    ).rejects.toThrow(/more than 2 KiB, the most blob sha256:[0-9a-f]+ by its descriptor can have/);
  });
});

describe('reads that cost the registry little', () => {
  it('resolves a tag with one HEAD and no GET', async () => {
    const proxy = await new FaultProxy(services.registry).start();
    stops.push(() => proxy.stop());
    const repo = parseReference(`${proxy.host}/anew-test/${unique()}`);
    const client = new RegistryClient(fast);
    const cfg = await client.pushBlob(repo, Buffer.from('{}'));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: cfg.digest, size: cfg.size },
        layers: [],
      }),
    );
    await client.putManifest(repo, manifest, MediaType.ociManifest, 'v1');
    proxy.log.length = 0;
    expect(await client.resolve(repo.withTag('v1'))).toEqual({
      digest: sha256(manifest),
      mediaType: MediaType.ociManifest,
      size: manifest.length,
    });
    expect(await client.resolve(repo.withTag('absent'))).toBeUndefined();
    expect(proxy.count('GET', '/manifests/')).toBe(0);
    expect(proxy.count('HEAD', '/manifests/')).toBe(2);
  });
});

describe('the referrers API', () => {
  it('follows its Link pages to the last', async () => {
    const subject = sha256('subject');
    const artifact = (i: number) => ({
      mediaType: MediaType.ociManifest,
      digest: sha256(`artifact ${i}`),
      size: 100 + i,
      artifactType: 'application/vnd.example+json',
    });
    const pages = [[artifact(1), artifact(2)], [artifact(3), artifact(4)], [artifact(5)]];
    const registry = await server((req, res) => {
      req.resume();
      const u = new URL(req.url ?? '/', 'http://x');
      const page = Number(u.searchParams.get('page') ?? '0');
      const headers: Record<string, string> = { 'content-type': MediaType.ociIndex };
      if (page + 1 < pages.length)
        headers['link'] = `</v2/acme/web/referrers/${subject}?page=${page + 1}>; rel="next"`;
      res.writeHead(200, headers);
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: pages[page] }));
    });
    const client = new RegistryClient(fast);
    const found = await client.referrers(parseReference(`${registry.host}/acme/web`), subject);
    expect(found.map((d) => d.digest)).toEqual(pages.flat().map((d) => d.digest));
    expect(registry.seen.map((r) => r.path)).toEqual([
      `/v2/acme/web/referrers/${subject}`,
      `/v2/acme/web/referrers/${subject}?page=1`,
      `/v2/acme/web/referrers/${subject}?page=2`,
    ]);
  });
});

describe('a blob copied across registries', () => {
  it('is streamed in chunks and refused before the commit when it does not hash to its digest', async () => {
    const claimed = randomBytes(300 * 1024);
    const served = Buffer.from(claimed);
    served[served.length - 10]! ^= 0xff;
    const source = await server((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(served.length) });
      res.end(served);
    });
    const proxy = await new FaultProxy(services.registry).start();
    stops.push(() => proxy.stop());
    const to = parseReference(`${proxy.host}/anew-test/${unique()}`);
    const client = new RegistryClient({ ...fast, chunkSize: 64 * 1024 });
    const digest = sha256(claimed);
    await expect(
      client.copyBlob(parseReference(`${source.host}/src/repo`), to, { digest, size: claimed.length }),
    ).rejects.toThrow(new RegExp(`hashes to sha256:[0-9a-f]+, not ${digest}`));
    // Chunks went out before the whole blob had been read: it was never held whole.
    expect(proxy.count('PATCH', '/blobs/uploads/')).toBeGreaterThanOrEqual(2);
    // Nothing committed the bad bytes.
    expect(proxy.log.filter((e) => e.method === 'PUT' && e.path.includes('digest='))).toEqual([]);
    expect(await new RegistryClient(fast).blobExists(to, digest)).toBe(false);
  });

  it('resumes a dropped download from the byte it got to', async () => {
    const blob = randomBytes(200 * 1024);
    const from = parseReference(`${services.registry}/anew-test/${unique()}`);
    await new RegistryClient(fast).pushBlob(from, blob);
    const proxy = await new FaultProxy(services.registry).start();
    stops.push(() => proxy.stop());
    proxy.rule = ({ method, path, n }) =>
      method === 'GET' && path.includes('/blobs/sha256:') && n === 1 ? { kind: 'reset' } : undefined;
    const other = parseReference(`${services.authRegistry.host}/anew-test/${unique()}`);
    const { username, password } = services.authRegistry;
    const client = new RegistryClient({
      ...fast,
      chunkSize: 64 * 1024,
      credentials: { [services.authRegistry.host]: { username, password } },
    });
    const viaProxy = parseReference(`${proxy.host}/${from.repository}`);
    expect(await client.copyBlob(viaProxy, other, { digest: sha256(blob), size: blob.length })).toBe(
      'copied',
    );
    expect(await client.getBlob(other, sha256(blob), blob.length)).toEqual(blob);
    const gets = proxy.log.filter((e) => e.method === 'GET' && e.path.includes('/blobs/'));
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });
});

describe('protocol headers', () => {
  it.each([
    ['0-0', 0, 0],
    ['0-0', 1, 1],
    ['0-99', 0, 100],
    ['bytes=0-65535', 0, 65536],
    ['', 0, undefined],
    ['5-9', 0, undefined],
  ])('Range "%s" (at least %i known) is %s bytes held', (range, atLeast, held) => {
    expect(received({ headers: range ? { range } : {} }, atLeast)).toBe(held);
  });

  it.each([
    ['</v2/a/tags/list?n=2&last=b>; rel="next"', 'http://r/v2/a/tags/list?n=2&last=b'],
    ['<https://other/v2/a/referrers/x?page=2>; rel=next', 'https://other/v2/a/referrers/x?page=2'],
    ['</p1>; rel="prev", </p3>; rel="next"', 'http://r/p3'],
    ['</p1>; rel="prev"', undefined],
    ['', undefined],
  ])('Link %j leads to %s', (link, next) => {
    expect(nextLink({ headers: link ? { link } : {}, url: 'http://r/v2/a/tags/list' })).toBe(next);
  });
});
