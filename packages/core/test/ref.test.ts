import {
  lowerCaseRepository,
  parseDigest,
  parsePinnedReference,
  parseReference,
  parseRepository,
  shortDigest,
} from '@anew/core/ref';
import { describe, expect, it } from 'vitest';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference normalizes like docker', () => {
  it.each([
    ['nginx', 'docker.io', 'library/nginx', undefined, undefined],
    ['nginx:1.27', 'docker.io', 'library/nginx', '1.27', undefined],
    ['acme/web', 'docker.io', 'acme/web', undefined, undefined],
    ['index.docker.io/acme/web', 'docker.io', 'acme/web', undefined, undefined],
    ['docker.io/nginx', 'docker.io', 'library/nginx', undefined, undefined],
    ['ghcr.io/acme/web:v1', 'ghcr.io', 'acme/web', 'v1', undefined],
    ['localhost/app', 'localhost', 'app', undefined, undefined],
    ['localhost:5000/app:t', 'localhost:5000', 'app', 't', undefined],
    ['127.0.0.1:5000/a/b/c', '127.0.0.1:5000', 'a/b/c', undefined, undefined],
    ['[::1]:5000/app', '[::1]:5000', 'app', undefined, undefined],
    [`ghcr.io/acme/web@${D}`, 'ghcr.io', 'acme/web', undefined, D],
    [`ghcr.io/acme/web:v1@${D}`, 'ghcr.io', 'acme/web', 'v1', D],
    ['my_app-x__z/a--b.c', 'docker.io', 'my_app-x__z/a--b.c', undefined, undefined],
  ])('%s', (input, registry, repository, tag, digest) => {
    const r = parseReference(input);
    expect(r.registry).toBe(registry);
    expect(r.repository).toBe(repository);
    expect(r.tag).toBe(tag);
    expect(r.digest).toBe(digest);
  });

  it('formats back to the full and the familiar name', () => {
    expect(parseReference('nginx:1').toString()).toBe('docker.io/library/nginx:1');
    expect(parseReference('nginx:1').familiarName).toBe('nginx');
    expect(parseReference('ghcr.io/a/b').apiHost).toBe('ghcr.io');
    expect(parseReference('a/b').apiHost).toBe('registry-1.docker.io');
  });
});

describe('parseReference refuses malformed input with a precise message', () => {
  it.each([
    ['', /is empty/],
    ['ghcr.io/Acme/web', /must be lower case.*acme\/web/],
    ['Web', /must be lower case/],
    ['ghcr.io/acme/../web', /contains "\.\."/],
    [`ghcr.io/acme/web:${'x'.repeat(129)}`, /129 characters long.*at most 128/],
    ['ghcr.io/acme/web:-bad', /tag "-bad" is not valid/],
    ['ghcr.io/acme/web@sha256:abc', /not a valid sha256 digest/],
    ['ghcr.io/acme/web@sha256:' + 'A'.repeat(64), /not a valid sha256 digest/],
    ['ghcr.io/acme/web@md5:' + 'a'.repeat(32), /unsupported algorithm/],
    ['ghcr.io/acme/web:', /empty tag/],
    ['ghcr.io/acme/web;rm -rf /', /white space|not allowed/],
    ['ghcr.io/acme/$(id)', /not allowed/],
    ['ghcr.io/acme//web', /invalid path component ""/],
    ['ghcr.io/acme/-web', /invalid path component "-web"/],
    ['a'.repeat(256), /longer than 255/],
  ])('%s', (input, message) => {
    expect(() => parseReference(input)).toThrow(message);
  });
});

describe('pinned references', () => {
  it('refuses a tag where a digest is required, naming what to pass', () => {
    expect(() => parsePinnedReference('ghcr.io/acme/web:latest')).toThrow(
      /not pinned by digest.*ghcr.io\/acme\/web@sha256/,
    );
  });
  it('accepts repo@digest', () => {
    expect(parsePinnedReference(`ghcr.io/acme/web@${D}`).digest).toBe(D);
  });
  it('repository inputs refuse tags and digests', () => {
    expect(() => parseRepository('ghcr.io/acme/web:v1')).toThrow(/without tag or digest/);
    expect(parseRepository('ghcr.io/acme/web').name).toBe('ghcr.io/acme/web');
  });
  it('digests and short digests', () => {
    expect(parseDigest(D)).toBe(D);
    expect(shortDigest(D)).toBe('aaaaaaaaaaaa');
  });
});

describe('lowerCaseRepository (as docker/metadata-action writes image names)', () => {
  it.each([
    ['ghcr.io/Acme/Web', 'ghcr.io/acme/web'],
    [`ghcr.io/Acme/Web@${D}`, `ghcr.io/acme/web@${D}`],
    // A tag is case-sensitive; a host is left as given (registries match it without case).
    ['ghcr.io/Acme/Web:Release-1', 'ghcr.io/acme/web:Release-1'],
    ['127.0.0.1:5000/Acme/Web:v1', '127.0.0.1:5000/acme/web:v1'],
    ['localhost/Team/App', 'localhost/team/app'],
    ['Acme/Web', 'acme/web'],
    ['ghcr.io/acme/web', 'ghcr.io/acme/web'],
  ])('%s → %s', (input, want) => {
    expect(lowerCaseRepository(input)).toBe(want);
    // …and the result is a reference registries take.
    expect(() => parseReference(want)).not.toThrow();
  });
});
