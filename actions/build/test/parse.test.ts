import crypto from 'node:crypto';
import { InputReader, runnerSource } from '@anew/action';
import { describe, expect, it } from 'vitest';
import { parse } from '../src/main.ts';
import { spec } from '../src/spec.ts';

const read = (raw: Record<string, string>) =>
  parse(
    new InputReader(
      spec.inputs,
      { image: 'registry.example/acme/web', ...raw },
      runnerSource(() => {}),
    ),
  );
const publicPem = crypto
  .generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

describe('build inputs: the cache', () => {
  it.each([
    [{ files: 'a:/a' }, true],
    [{}, false],
    [{ cache: 'true' }, true],
    [{ files: 'a:/a', cache: 'false' }, false],
  ])('%j gives cache %s (on for files, opt-in for a Dockerfile)', (raw, cache) => {
    expect(read(raw).request.cache).toBe(cache);
  });

  it('reads a cache policy only when a signer is given, through the verify policy reader', () => {
    expect(read({ files: 'a:/a' }).request.cachePolicy).toBeUndefined();
    const byKey = read({ files: 'a:/a', 'cache-public-key': publicPem }).request.cachePolicy;
    expect(byKey?.publicKey).toBe(publicPem);
    const keyless = read({
      files: 'a:/a',
      'cache-certificate-identity-regexp': '^https://github\\.com/acme/web/.+$',
    }).request.cachePolicy;
    expect(keyless).toMatchObject({
      certificateIdentityRegexp: '^https://github\\.com/acme/web/.+$',
      certificateOidcIssuer: 'https://token.actions.githubusercontent.com',
    });
  });

  it('refuses an incomplete or contradictory cache policy before anything runs', () => {
    expect(() => read({ 'cache-certificate-oidc-issuer': 'https://issuer.example' })).toThrow(
      /"cache-certificate-oidc-issuer" is set without input "cache-certificate-identity-regexp"/,
    );
    expect(() => read({ 'cache-public-key': publicPem, 'cache-certificate-identity-regexp': '.*' })).toThrow(
      /public-key is set together with certificate-identity/,
    );
    expect(() => read({ 'cache-public-key': '/no/such/key.pem' })).toThrow(
      /input "cache-public-key" is neither a PEM key nor the path of a file/,
    );
    expect(() => read({ 'cache-certificate-identity-regexp': '(' })).toThrow(
      /not a valid regular expression/,
    );
  });
});
