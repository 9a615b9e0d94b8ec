import { randomBytes } from 'node:crypto';
import { parseReference } from '@anew/core/ref';
import { parseChallenge, RegistryClient } from '@anew/core/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
