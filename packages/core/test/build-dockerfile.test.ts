import {
  buildxBuildArgv,
  buildxEnvironment,
  cacheTag,
  canonicalJson,
  type DockerfileBuild,
  digestFromBuildxMetadata,
  dockerBuildArgv,
  dockerfileBases,
  imageLabels,
  inputsDigest,
  parseSourceDateEpoch,
  parseTags,
  pinDockerfile,
} from '@anew/core/build';
import { parseRepository } from '@anew/core/ref';
import { describe, expect, it } from 'vitest';

const D = `sha256:${'e'.repeat(64)}`;
const b: DockerfileBuild = {
  context: '/ctx',
  dockerfile: '/ctx/Dockerfile',
  buildArgs: { VERSION: '1.2', 'WITH SPACE': 'a b' },
  target: 'runtime',
  labels: { 'org.opencontainers.image.revision': 'abc' },
  sourceDateEpoch: 1700000000,
};

describe('docker build argv (engine path)', () => {
  it.each([
    [
      'every option',
      b,
      true,
      [
        'build',
        '--file',
        '/ctx/Dockerfile',
        '--build-arg',
        'VERSION=1.2',
        '--build-arg',
        'WITH SPACE=a b',
        '--target',
        'runtime',
        '--label',
        'org.opencontainers.image.revision=abc',
        '--tag',
        'r/app:anew-inputs-x',
        '--pull',
        '/ctx',
      ],
    ],
    [
      'the minimum, one platform',
      {
        context: '/c',
        dockerfile: '/c/D',
        buildArgs: {},
        labels: {},
        platforms: ['linux/arm64'],
        sourceDateEpoch: 0,
      },
      false,
      ['build', '--file', '/c/D', '--tag', 'r/app:anew-inputs-x', '--platform', 'linux/arm64', '/c'],
    ],
  ])('%s', (_name, build, pull, argv) => {
    expect(dockerBuildArgv(build, 'r/app:anew-inputs-x', pull)).toEqual(argv);
  });

  it('refuses several platforms, which the engine cannot build at once', () => {
    expect(() => dockerBuildArgv({ ...b, platforms: ['linux/amd64', 'linux/arm64'] }, 't', false)).toThrow(
      /one platform at a time.*Install docker buildx/,
    );
  });
});

describe('buildx build argv (GitHub-hosted runners)', () => {
  it.each([
    [
      'push by digest, reproducible timestamps, no attestation manifests',
      { ...b, platforms: ['linux/amd64', 'linux/arm64'] },
      [
        'build',
        '--file',
        '/ctx/Dockerfile',
        '--build-arg',
        'VERSION=1.2',
        '--build-arg',
        'WITH SPACE=a b',
        '--target',
        'runtime',
        '--label',
        'org.opencontainers.image.revision=abc',
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=false',
        '--sbom=false',
        '--metadata-file',
        '/tmp/m.json',
        '--output',
        'type=image,name=ghcr.io/acme/web,push-by-digest=true,name-canonical=true,push=true,oci-mediatypes=true,rewrite-timestamp=true',
        '/ctx',
      ],
    ],
  ])('%s', (_name, build, argv) => {
    expect(buildxBuildArgv(build, 'ghcr.io/acme/web', '/tmp/m.json')).toEqual(argv);
  });

  it('pushes by tag through the engine on the docker driver, where push-by-digest and OCI types are not there', () => {
    const argv = buildxBuildArgv(
      { context: '/ctx', dockerfile: '/ctx/Dockerfile', buildArgs: {}, labels: {}, sourceDateEpoch: 0 },
      'ghcr.io/acme/web',
      '/tmp/m.json',
      { driver: 'docker', recordTag: 'anew-inputs-abc' },
    );
    expect(argv).toContain('type=image,name=ghcr.io/acme/web:anew-inputs-abc,push=true');
    expect(argv.join(' ')).not.toMatch(/push-by-digest|oci-mediatypes|rewrite-timestamp/);
  });
});

describe('buildx environment', () => {
  it('carries SOURCE_DATE_EPOCH, which buildx hands to BuildKit', () => {
    expect(buildxEnvironment(b)).toEqual({ SOURCE_DATE_EPOCH: '1700000000' });
  });
});

describe('buildx metadata', () => {
  it.each([
    [`{"containerimage.digest":"${D}","image.name":"ghcr.io/acme/web"}`, D],
    [
      `{"buildx.build.ref":"b/b/x","containerimage.descriptor":{"digest":"${D}"},"containerimage.digest":"${D}"}`,
      D,
    ],
  ])('%s', (text, digest) => {
    expect(digestFromBuildxMetadata(text)).toBe(digest);
  });
  it.each([
    ['null', /no image digest/],
    ['{}', /no image digest/],
    ['{"containerimage.digest":"sha256:short"}', /no image digest/],
    ['not json', /not JSON/],
  ])('refuses %s', (text, message) => {
    expect(() => digestFromBuildxMetadata(text)).toThrow(message);
  });
});

describe('FROM images of a Dockerfile', () => {
  it.each([
    ['FROM scratch\nCOPY a /a', {}, { bases: [] }],
    ['FROM node:20 AS build\nRUN x\nFROM build\nFROM nginx:1.27', {}, { bases: ['node:20', 'nginx:1.27'] }],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variables
    ['ARG V=3.20\nFROM --platform=$BUILDPLATFORM alpine:${V} as a', {}, { bases: ['alpine:3.20'] }],
    ['ARG V=3.20\nFROM alpine:$V', { V: '3.21' }, { bases: ['alpine:3.21'] }],
    ['# comment\nfrom \\\n  ghcr.io/acme/base@' + D, {}, { bases: [`ghcr.io/acme/base@${D}`] }],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variables
    ['FROM alpine:${MISSING}', {}, { unknown: '"FROM alpine:${MISSING}" uses a variable without a value' }],
    [
      'FROM golang AS b\nCOPY --from=b /x /x\nCOPY --from=ghcr.io/acme/tools:1 /t /t\nCOPY --from=0 /y /y',
      {},
      { bases: ['golang', 'ghcr.io/acme/tools:1'] },
    ],
  ])('%s', (text, args, expected) => {
    expect(dockerfileBases(text, args)).toEqual(expected);
  });

  it('pins every external image to its digest and leaves every other byte alone', () => {
    const text = [
      '# syntax=docker/dockerfile:1',
      'ARG BASE=alpine:3.20',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable
      'FROM --platform=$BUILDPLATFORM ${BASE} AS build',
      'COPY --from=ghcr.io/acme/tools:1 /t /t',
      'RUN <<EOF',
      'echo FROM alpine:3.20 stays in a heredoc',
      'EOF',
      'FROM build',
      'COPY --from=build /t /t',
      'FROM \\',
      '  alpine:3.20',
    ].join('\r\n');
    const pins: Record<string, string> = {
      'alpine:3.20': `docker.io/library/alpine@${D}`,
      'ghcr.io/acme/tools:1': `ghcr.io/acme/tools@${D}`,
    };
    expect(pinDockerfile(text, {}, (n) => pins[n])).toBe(
      [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=alpine:3.20',
        `FROM --platform=$BUILDPLATFORM docker.io/library/alpine@${D} AS build`,
        `COPY --from=ghcr.io/acme/tools@${D} /t /t`,
        'RUN <<EOF',
        'echo FROM alpine:3.20 stays in a heredoc',
        'EOF',
        'FROM build',
        'COPY --from=build /t /t',
        'FROM \\',
        `  docker.io/library/alpine@${D}`,
      ].join('\r\n'),
    );
  });
});

describe('tags', () => {
  const repo = parseRepository('ghcr.io/acme/web');
  it('takes bare tags and full references in the repository (docker/metadata-action output)', () => {
    expect(parseTags(['v1', 'ghcr.io/acme/web:sha-abc', 'v1'], repo).map(String)).toEqual([
      'ghcr.io/acme/web:v1',
      'ghcr.io/acme/web:sha-abc',
    ]);
  });
  it.each([
    ['docker.io/acme/web:v1', /in docker\.io\/acme\/web rather than ghcr\.io\/acme\/web.*promote/],
    ['ghcr.io/acme/web', /without a tag/],
    [`ghcr.io/acme/web@${D}`, /carries a digest/],
    ['-bad', /tag "-bad" is not valid/],
  ])('refuses %s', (line, message) => {
    expect(() => parseTags([line], repo)).toThrow(message);
  });
});

describe('inputs-digest', () => {
  it('is the same for the same value in any key order, and differs for any change', () => {
    expect(canonicalJson({ b: [1, { d: 'x', c: null }], a: 'é' })).toBe(
      '{"a":"é","b":[1,{"c":null,"d":"x"}]}',
    );
    expect(inputsDigest({ a: 1, b: 2 })).toBe(inputsDigest({ b: 2, a: 1 }));
    expect(inputsDigest({ a: 1, b: 2 })).not.toBe(inputsDigest({ a: 1, b: 3 }));
    expect(inputsDigest({ a: 1, b: undefined })).toBe(inputsDigest({ a: 1 }));
    expect(cacheTag(D as `sha256:${string}`)).toBe(`anew-inputs-${'e'.repeat(64)}`);
    expect(cacheTag(D as `sha256:${string}`).length).toBeLessThanOrEqual(128);
  });
});

describe('labels and source-date-epoch', () => {
  it('adds OCI source and revision from the run, the user wins', () => {
    const ctx = { repository: 'acme/web', serverUrl: 'https://github.com', sha: 'abc123' };
    expect(imageLabels(ctx, { team: 'web' })).toEqual({
      'org.opencontainers.image.source': 'https://github.com/acme/web',
      'org.opencontainers.image.revision': 'abc123',
      team: 'web',
    });
    expect(imageLabels({ serverUrl: 'https://github.com' }, {})).toEqual({});
    expect(
      imageLabels(ctx, { 'org.opencontainers.image.revision': 'x' })['org.opencontainers.image.revision'],
    ).toBe('x');
  });
  it('takes whole seconds only', () => {
    expect(parseSourceDateEpoch('1700000000')).toBe(1700000000);
    expect(() => parseSourceDateEpoch('2024-01-01')).toThrow(/not a number of seconds/);
  });
});

describe('default source-date-epoch', () => {
  it('is the commit time of HEAD in a git repository, else 0', async () => {
    const { execFileSync } = await import('node:child_process');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { Exec } = await import('@anew/core/exec');
    const { defaultSourceDateEpoch } = await import('@anew/core/build');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-git-'));
    try {
      expect(await defaultSourceDateEpoch(new Exec(), dir)).toBe(0);
      const env = {
        ...process.env,
        GIT_COMMITTER_DATE: '@1600000000 +0000',
        GIT_AUTHOR_DATE: '@1500000000 +0000',
      };
      const git = (...args: string[]) =>
        execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { env });
      git('init', '-q');
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      git('add', 'f');
      git('commit', '-qm', 'c');
      expect(await defaultSourceDateEpoch(new Exec(), dir)).toBe(1600000000);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
