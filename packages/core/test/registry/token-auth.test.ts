import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '@anew/core/log';
import { parseReference } from '@anew/core/ref';
import { Authenticator, CredentialStore, parseChallenge, RegistryClient, sha256 } from '@anew/core/registry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../../test/helpers/services.ts';
import { startTokenRegistry, type TokenRegistry } from '../../../../test/helpers/token-registry.ts';

describe('parseChallenge', () => {
  it.each([
    [
      'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/web:pull"',
      {
        scheme: 'bearer',
        params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:acme/web:pull' },
      },
    ],
    ['Basic realm="Registry Realm"', { scheme: 'basic', params: { realm: 'Registry Realm' } }],
    [
      'bearer realm=https://a/t, service=s',
      { scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } },
    ],
  ])('%s', (header, expected) => {
    expect(parseChallenge(header)).toEqual(expected);
  });
  it('ignores schemes it cannot answer', () => {
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
  });
});

describe('bearer-token flow against the real registry in token mode', () => {
  let reg: TokenRegistry;
  beforeAll(async () => {
    reg = await startTokenRegistry();
  });
  afterAll(async () => {
    await reg.stop();
  });

  it('gets a token with the credentials, caches it per scope, and pushes', async () => {
    const repo = parseReference(`${reg.host}/acme/web`);
    const client = new RegistryClient({
      credentials: { [reg.host]: { username: reg.username, password: reg.password } },
    });
    const blob = randomBytes(1000);
    expect((await client.pushBlob(repo, blob)).uploaded).toBe(true);
    expect(await client.getBlob(repo, (await client.pushBlob(repo, blob)).digest)).toEqual(blob);
    const pushScopes = reg.tokenRequests.filter((r) => r.scopes.includes('repository:acme/web:pull,push'));
    expect(pushScopes.length).toBe(1);
    expect(pushScopes[0]!.authenticated).toBe(true);
  });

  it('refuses wrong credentials at the token service, saying so', async () => {
    const repo = parseReference(`${reg.host}/acme/web`);
    const client = new RegistryClient({
      credentials: { [reg.host]: { username: reg.username, password: 'nope' } },
    });
    await expect(client.pushBlob(repo, randomBytes(10))).rejects.toThrow(
      /token service .* refused the credentials.*401/,
    );
  });

  it('reads anonymously but cannot push without credentials', async () => {
    const repo = parseReference(`${reg.host}/acme/web`);
    const anon = new RegistryClient({
      dockerConfig: '/nonexistent/config.json',
      retry: { attempts: 2, minDelayMs: 1 },
    });
    expect(await anon.blobExists(repo, `sha256:${'0'.repeat(64)}`)).toBe(false);
    await expect(anon.pushBlob(repo, randomBytes(10))).rejects.toThrow(/401/);
  });
});

describe('tokens that expire', () => {
  let reg: TokenRegistry;
  afterEach(async () => {
    await reg?.stop();
  });

  it('a token expiring in the middle of a chunked upload does not fail the push', async () => {
    reg = await startTokenRegistry();
    const repo = parseReference(`${reg.host}/acme/chunked`);
    const client = new RegistryClient({
      credentials: { [reg.host]: { username: reg.username, password: reg.password } },
      chunkSize: 64 * 1024,
    });
    const big = randomBytes(300 * 1024);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anew-token-')), 'blob');
    fs.writeFileSync(file, big);
    let patches = 0;
    reg.onRequest = ({ method }) => {
      if (method === 'PATCH' && ++patches === 3) reg.expireTokens();
    };
    const r = await client.pushBlobFile(repo, file, sha256(big), big.length);
    expect(r.uploaded).toBe(true);
    // The registry did refuse the expired token in the middle of the upload, and the client got a new one.
    const refused = reg.exchanges.filter((e) => e.method === 'PATCH' && e.status === 401);
    expect(refused).toHaveLength(1);
    expect(await client.getBlob(repo, sha256(big), big.length)).toEqual(big);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it('a token expiring in the middle of a streamed copy does not fail it', async () => {
    reg = await startTokenRegistry();
    const from = parseReference(
      `${services.registry}/anew-test/token-copy-${randomBytes(4).toString('hex')}`,
    );
    const to = parseReference(`${reg.host}/acme/copied`);
    const client = new RegistryClient({
      credentials: { [reg.host]: { username: reg.username, password: reg.password } },
      chunkSize: 64 * 1024,
    });
    const blob = randomBytes(300 * 1024);
    await client.pushBlob(from, blob);
    let patches = 0;
    reg.onRequest = ({ method }) => {
      if (method === 'PATCH' && ++patches === 3) reg.expireTokens();
    };
    expect(await client.copyBlob(from, to, { digest: sha256(blob), size: blob.length })).toBe('copied');
    expect(reg.exchanges.filter((e) => e.method === 'PATCH' && e.status === 401)).toHaveLength(1);
    expect(await client.getBlob(to, sha256(blob), blob.length)).toEqual(blob);
  });

  it('renews a token before its expires_in runs out instead of sending it expired', async () => {
    reg = await startTokenRegistry({ ttlSeconds: 2 });
    const repo = parseReference(`${reg.host}/acme/renew`);
    const client = new RegistryClient({
      credentials: { [reg.host]: { username: reg.username, password: reg.password } },
    });
    const digest = sha256(randomBytes(8));
    expect(await client.blobExists(repo, digest)).toBe(false);
    const refusedBefore = reg.exchanges.filter((e) => e.status === 401 && e.token).length;
    await new Promise((r) => setTimeout(r, 2200));
    expect(await client.blobExists(repo, digest)).toBe(false);
    expect(reg.exchanges.filter((e) => e.status === 401 && e.token).length).toBe(refusedBefore);
    expect(reg.tokenRequests.length).toBe(2);
  });
});

describe('where credentials may go', () => {
  const store = () => new CredentialStore({ 'registry.example': { username: 'u', password: 'p' } });

  it.each([
    ['http://auth.example/token', /does not send credentials to/],
    ['ftp://auth.example/token', /does not send credentials to/],
    ['https://user@auth.example/token', /does not send credentials to/],
  ])('refuses the token realm %s of a registry not on loopback, before any request', async (realm, error) => {
    const auth = new Authenticator(store(), silentLogger);
    await expect(
      auth.challenge(
        { registry: 'registry.example', origin: 'https://registry.example' },
        `Bearer realm="${realm}",service="s"`,
        ['repository:a:pull'],
      ),
    ).rejects.toThrow(error);
  });
});
