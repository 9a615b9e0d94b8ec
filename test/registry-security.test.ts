import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseReference } from '@anew/core/ref';
import { MediaType, RegistryClient } from '@anew/core/registry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pushTinyImage } from './fixtures/sigstore/tiny-image.ts';
import { runAction } from './helpers/action.ts';
import { SAMPLE_INPUTS, sampleContext } from './helpers/build-tools.ts';
import { FaultProxy } from './helpers/fault-proxy.ts';
import { recordingServer } from './helpers/recording-server.ts';
import { services } from './helpers/services.ts';

/**
 * The registry client as an attacker meets it, through the committed build
 * bundle: a registry that redirects reads to a host that asks for
 * credentials, and one that streams an endless manifest.
 */
let context: string;
beforeAll(() => {
  context = sampleContext();
});
afterAll(() => fs.rmSync(context, { recursive: true, force: true }));

const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

const unique = () => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** A recording loopback server, stopped after each test. */
async function server(handle: Parameters<typeof recordingServer>[0]) {
  const s = await recordingServer(handle);
  stops.push(s.stop);
  return s;
}

describe('build against a hostile registry', () => {
  it('does not hand the registry password to the host a redirect leads to', async () => {
    const { host: authHost, username, password } = services.authRegistry;
    const other = await server((req, res, self) => {
      req.resume();
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${self}/token",service="storage"`,
        'content-type': 'application/json',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    });
    const registry = await new FaultProxy(authHost).start();
    stops.push(() => registry.stop());
    const client = new RegistryClient({ credentials: { [registry.host]: { username, password } } });
    const base = await pushTinyImage(
      client,
      parseReference(`${registry.host}/anew-test/base-${unique()}`),
      unique(),
    );
    registry.rule = ({ method, path }) =>
      method === 'GET' && path.includes('/blobs/sha256:')
        ? { kind: 'redirect', location: `http://${other.host}/storage/${path.split('/blobs/')[1]}` }
        : undefined;

    const r = await runAction('build', {
      ...SAMPLE_INPUTS,
      image: `${registry.host}/anew-test/app-${unique()}`,
      context,
      'source-date-epoch': '1700000000',
      base: base.ref.toString(),
      'registry-username': username,
      'registry-password': password,
    });
    // Before the fix the other port received `Authorization: Basic` with the password.
    expect(other.seen.length).toBeGreaterThan(0);
    expect(other.seen.filter((s) => s.authorization !== undefined)).toEqual([]);
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(
      new RegExp(`${other.host}, where ${registry.host} redirected GET .* asks for authentication`),
    );
  });

  it('fails fast on an endless manifest, with a clear error and a small memory', async () => {
    let sent = 0;
    const limit = 512 * 1024 * 1024;
    const endless = await server((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': MediaType.ociManifest });
      if (req.method === 'HEAD') return void res.end();
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      // Bounded: 512 MiB at most, and only as fast as the client reads.
      const pump = () => {
        while (sent < limit && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-rss-'));
    stops.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const preload = path.join(dir, 'rss.cjs');
    const rssFile = path.join(dir, 'rss');
    fs.writeFileSync(
      preload,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`,
    );
    const r = await runAction(
      'build',
      {
        ...SAMPLE_INPUTS,
        image: `${services.registry}/anew-test/endless-${unique()}`,
        context,
        'source-date-epoch': '1700000000',
        base: `${endless.host}/acme/base:latest`,
      },
      { env: { NODE_OPTIONS: `--require ${preload}` } },
    );
    const maxRssKiB = Number(fs.readFileSync(rssFile, 'utf8'));
    expect(maxRssKiB).toBeGreaterThan(0);
    expect(maxRssKiB * 1024).toBeLessThan(200 * 1024 * 1024);
    expect(sent).toBeLessThan(limit);
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/answered GET \/v2\/acme\/base\/manifests\/latest with more than 4 MiB/);
  });
});
