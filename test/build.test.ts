import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_LOCAL, NODE24, runAction } from './helpers/action.ts';
import {
  blobWrites,
  ociSchemas,
  Podman,
  recordingProxy,
  registryContents,
  SAMPLE_INPUTS,
  sampleContext,
  skopeoConfig,
  skopeoRaw,
  waitForText,
} from './helpers/build-tools.ts';
import { freePort, type RunningService, services, servicesDir, startRegistry } from './helpers/services.ts';

/**
 * The daemonless build, run as the runner runs the committed bundle, against
 * real registries; the results are read back with independent tools (skopeo,
 * podman) and checked against the OCI JSON schemas.
 */
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const EPOCH = '1700000000';

let registry: RunningService;
let context: string;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  context = sampleContext();
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await registry?.stop();
  fs.rmSync(context, { recursive: true, force: true });
});

function buildInputs(image: string, extra: Record<string, string> = {}) {
  return { image, context, 'source-date-epoch': EPOCH, ...SAMPLE_INPUTS, ...extra };
}

describe('daemonless build of the sample app', () => {
  let first: Awaited<ReturnType<typeof runAction>>;
  const image = () => `${registry.host}/sample/web`;

  beforeAll(async () => {
    first = await runAction('build', buildInputs(image(), { tags: 'v1\n' + `${image()}:latest` }));
    if (first.code !== 0) throw new Error(`build failed:\n${first.log}`);
  });

  it('outputs the digest of the manifest bytes skopeo reads, and every other output', () => {
    const raw = skopeoRaw(`${image()}@${first.outputs['digest']}`);
    expect(sha256(raw)).toBe(first.outputs['digest']);
    expect(sha256(skopeoRaw(`${image()}:v1`))).toBe(first.outputs['digest']);
    expect(first.outputs['image']).toBe(`${image()}@${first.outputs['digest']}`);
    expect(first.outputs['cache-hit']).toBe('false');
    expect(first.outputs['inputs-digest']).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(first.outputs['tags']!.split('\n')).toEqual([`${image()}:v1`, `${image()}:latest`]);
    expect(first.outputs['base-digest'] ?? '').toBe('');
    expect(first.summary).toContain(first.outputs['digest']);
    expect(first.summary).toMatch(/Cache hit.*false/s);
  });

  it('writes an OCI image whose manifest and config validate against the image-spec schemas', () => {
    const schemas = ociSchemas();
    const manifest = JSON.parse(skopeoRaw(`${image()}@${first.outputs['digest']}`).toString());
    expect(schemas.manifest(manifest), JSON.stringify(schemas.manifest.errors)).toBe(true);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const config = JSON.parse(skopeoConfig(`${image()}@${first.outputs['digest']}`).toString());
    expect(schemas.config(config), JSON.stringify(schemas.config.errors)).toBe(true);
    expect(config.created).toBe('2023-11-14T22:13:20Z');
    expect(config.config.Env).toEqual(['PORT=8080']);
    // The refusal of a bad document shows the validator really checks, also the fields 1.1.0 added.
    expect(schemas.manifest({ ...manifest, schemaVersion: 1 })).toBe(false);
    expect(manifest.artifactType).toBeUndefined();
    expect(schemas.manifest({ ...manifest, artifactType: 'not a media type' })).toBe(false);
    expect(schemas.manifest({ ...manifest, subject: { mediaType: manifest.mediaType } })).toBe(false);
    expect(schemas.manifest({ ...manifest, subject: manifest.config })).toBe(true);
  });

  it('is pulled and run by podman, and serves the site', async () => {
    const podman = new Podman();
    cleanup.push(() => podman.cleanup());
    const port = await freePort();
    podman.run([
      'run',
      '--detach',
      '--network',
      'host',
      '--tls-verify=false',
      '--env',
      `PORT=${port}`,
      first.outputs['image']!,
    ]);
    const page = await waitForText(`http://127.0.0.1:${port}/`, 'Hello from anew');
    expect(page).toContain('busybox httpd');
  });

  it('writes what attest reads to $RUNNER_TEMP/anew/build-<hex>.json: inputs-digest, start and finish', async () => {
    const runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-runner-temp-'));
    cleanup.push(() => fs.rmSync(runnerTemp, { recursive: true, force: true }));
    const r = await runAction('build', buildInputs(image()), { env: { RUNNER_TEMP: runnerTemp } });
    expect(r.code, r.log).toBe(0);
    const file = path.join(runnerTemp, 'anew', `build-${r.outputs['digest']!.slice(7)}.json`);
    const record = JSON.parse(fs.readFileSync(file, 'utf8'));
    // The image was built by the first test: this run reused it, and without a cache policy it
    // cannot say which run built it. attest reads this, and says "reused" in the provenance.
    expect(r.outputs['cache-hit']).toBe('true');
    expect(record).toEqual({
      inputsDigest: r.outputs['inputs-digest'],
      startedOn: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      finishedOn: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      reused: {},
    });
    expect(Date.parse(record.finishedOn)).toBeGreaterThanOrEqual(Date.parse(record.startedOn));
  });

  it('rebuilds unchanged as a cache hit that uploads no blob', async () => {
    const proxy = await recordingProxy(registry.host);
    cleanup.push(() => proxy.close());
    const again = await runAction('build', buildInputs(`${proxy.host}/sample/web`, { tags: 'v2' }));
    expect(again.code, again.log).toBe(0);
    expect(again.outputs['cache-hit']).toBe('true');
    expect(again.outputs['digest']).toBe(first.outputs['digest']);
    expect(again.outputs['inputs-digest']).toBe(first.outputs['inputs-digest']);
    expect(blobWrites(proxy.requests)).toEqual([]);
    // The only write is the new tag.
    expect(proxy.requests.filter((r) => !r.startsWith('GET') && !r.startsWith('HEAD'))).toEqual([
      'PUT /v2/sample/web/manifests/v2',
    ]);
    expect(sha256(skopeoRaw(`${image()}:v2`))).toBe(first.outputs['digest']);
    // And reads little: the record tag once, no blob.
    expect(proxy.requests.filter((r) => r.includes('/blobs/'))).toEqual([]);
    expect(proxy.requests.filter((r) => r.includes('/manifests/'))).toEqual([
      `GET /v2/sample/web/manifests/anew-inputs-${first.outputs['inputs-digest']!.slice(7)}`,
      'PUT /v2/sample/web/manifests/v2',
    ]);
  });

  it('with cache: false builds again and gets the same digest', async () => {
    const proxy = await recordingProxy(registry.host);
    cleanup.push(() => proxy.close());
    const again = await runAction('build', buildInputs(`${proxy.host}/sample/web`, { cache: 'false' }));
    expect(again.code, again.log).toBe(0);
    expect(again.outputs['cache-hit']).toBe('false');
    expect(again.outputs['digest']).toBe(first.outputs['digest']);
    expect(again.log).toContain('Layer');
  });

  it('gives the identical digest from a fresh copy with other mtimes, in an empty registry, under Node 20 and Node 24', async () => {
    const other = await startRegistry();
    cleanup.push(() => other.stop());
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-sample-copy-'));
    cleanup.push(() => fs.rmSync(copy, { recursive: true, force: true }));
    fs.cpSync(context, copy, { recursive: true });
    for (const f of fs.readdirSync(copy, { recursive: true }))
      fs.utimesSync(path.join(copy, String(f)), 1234567, 1234567);
    fs.chmodSync(path.join(copy, 'site/index.html'), 0o600);
    for (const [node, repo] of [
      [NODE24, 'node24/web'],
      [NODE_LOCAL, 'node20/web'],
    ] as const) {
      const r = await runAction(
        'build',
        { ...buildInputs(`${other.host}/${repo}`), context: copy },
        { node },
      );
      expect(r.code, r.log).toBe(0);
      expect(r.outputs['cache-hit']).toBe('false');
      expect(r.outputs['digest'], `under ${node}`).toBe(first.outputs['digest']);
      expect(r.outputs['inputs-digest']).toBe(first.outputs['inputs-digest']);
    }
  });

  it('changes digest and inputs-digest when a file changes', async () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-sample-changed-'));
    cleanup.push(() => fs.rmSync(copy, { recursive: true, force: true }));
    fs.cpSync(context, copy, { recursive: true });
    fs.appendFileSync(path.join(copy, 'site/index.html'), '<!-- changed -->\n');
    const r = await runAction('build', { ...buildInputs(image()), context: copy });
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['cache-hit']).toBe('false');
    expect(r.outputs['digest']).not.toBe(first.outputs['digest']);
    expect(r.outputs['inputs-digest']).not.toBe(first.outputs['inputs-digest']);
  });
});

describe('the checksums kept between builds on one machine', () => {
  it('a second build reads no unchanged file, and a file rewritten with its old size and mtime is hashed again', async () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-sample-checksums-'));
    const checksums = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-checksums-'));
    cleanup.push(() => fs.rmSync(copy, { recursive: true, force: true }));
    cleanup.push(() => fs.rmSync(checksums, { recursive: true, force: true }));
    fs.cpSync(context, copy, { recursive: true });
    for (const f of fs.readdirSync(copy, { recursive: true }))
      fs.utimesSync(path.join(copy, String(f)), 1_700_000_000, 1_700_000_000);
    // The files the build takes ("busybox:/bin/busybox" and "site/:/www/").
    const files = fs
      .readdirSync(copy, { recursive: true })
      .map(String)
      .filter((f) => (f === 'busybox' || f.startsWith('site/')) && fs.statSync(path.join(copy, f)).isFile());
    // Files changed in the last 2 s are not remembered (a change in the same clock tick would not show).
    await new Promise((r) => setTimeout(r, 2100));
    const build = () =>
      runAction(
        'build',
        { ...buildInputs(`${registry.host}/checksums/web`), context: copy },
        { env: { ANEW_CACHE_DIR: checksums } },
      );
    const first = await build();
    expect(first.code, first.log).toBe(0);
    expect(first.log).not.toContain('unchanged since an earlier build');
    const second = await build();
    expect(second.code, second.log).toBe(0);
    expect(second.outputs['cache-hit']).toBe('true');
    expect(second.outputs['inputs-digest']).toBe(first.outputs['inputs-digest']);
    expect(second.log).toContain(
      `${files.length} of ${files.length} files unchanged since an earlier build on this machine`,
    );
    // Same size, the old mtime put back: only the ctime tells, and it does.
    const index = path.join(copy, 'site/index.html');
    const text = fs.readFileSync(index, 'utf8');
    fs.writeFileSync(
      index,
      text.replace(/[a-z]/, (c) => c.toUpperCase()),
    );
    fs.utimesSync(index, 1_700_000_000, 1_700_000_000);
    expect(fs.statSync(index).size).toBe(Buffer.byteLength(text));
    const third = await build();
    expect(third.code, third.log).toBe(0);
    expect(third.outputs['cache-hit']).toBe('false');
    expect(third.outputs['inputs-digest']).not.toBe(first.outputs['inputs-digest']);
    expect(third.log).toContain(`${files.length - 1} of ${files.length} files unchanged`);
    // A GitHub-hosted runner is a fresh machine every job: nothing is kept there.
    const hosted = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-checksums-hosted-'));
    cleanup.push(() => fs.rmSync(hosted, { recursive: true, force: true }));
    for (let i = 0; i < 2; i++) {
      const r = await runAction(
        'build',
        { ...buildInputs(`${registry.host}/checksums/web`), context: copy },
        { env: { ANEW_CACHE_DIR: hosted, RUNNER_ENVIRONMENT: 'github-hosted' } },
      );
      expect(r.code, r.log).toBe(0);
      expect(r.log).not.toContain('unchanged since an earlier build');
    }
    expect(fs.readdirSync(hosted)).toEqual([]);
  });
});

describe('daemonless build on a multi-platform base', () => {
  it('builds one manifest per platform and an index, mounting the base layers instead of uploading them', async () => {
    // The base: the sample app for two platforms, made by anew itself.
    const base = await runAction(
      'build',
      buildInputs(`${registry.host}/bases/site`, { platforms: 'linux/amd64,linux/arm64', cache: 'false' }),
    );
    expect(base.code, base.log).toBe(0);
    const baseIndex = JSON.parse(skopeoRaw(base.outputs['image']!).toString());
    expect(baseIndex.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(
      baseIndex.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ).toEqual(['amd64', 'arm64']);

    const proxy = await recordingProxy(registry.host);
    cleanup.push(() => proxy.close());
    const app = await runAction('build', {
      image: `${proxy.host}/apps/on-base`,
      context,
      'source-date-epoch': EPOCH,
      base: `${proxy.host}/bases/site:anew-inputs-${base.outputs['inputs-digest']!.slice(7)}`,
      files: 'site/about.html:/www/about/index.html',
      cmd: 'echo hello',
      labels: 'org.example.team=web',
    });
    expect(app.code, app.log).toBe(0);
    expect(app.outputs['base-digest']).toBe(base.outputs['digest']);
    const index = JSON.parse(skopeoRaw(`${registry.host}/apps/on-base@${app.outputs['digest']}`).toString());
    const schemas = ociSchemas();
    expect(schemas.index(index), JSON.stringify(schemas.index.errors)).toBe(true);
    expect(index.manifests).toHaveLength(2);
    for (const d of index.manifests) {
      const m = JSON.parse(skopeoRaw(`${registry.host}/apps/on-base@${d.digest}`).toString());
      expect(schemas.manifest(m), JSON.stringify(schemas.manifest.errors)).toBe(true);
      expect(m.layers).toHaveLength(2);
      expect(m.annotations['org.opencontainers.image.base.digest']).toBe(base.outputs['digest']);
      const config = JSON.parse(skopeoConfig(`${registry.host}/apps/on-base@${d.digest}`).toString());
      expect(config.architecture).toBe(d.platform.architecture);
      // The base's environment and entrypoint are kept, the command replaced, the labels merged.
      expect(config.config.Env).toEqual(['PORT=8080']);
      expect(config.config.Entrypoint[0]).toBe('/bin/busybox');
      expect(config.config.Cmd).toEqual(['echo', 'hello']);
      expect(config.config.Labels['org.example.team']).toBe('web');
      expect(config.rootfs.diff_ids).toHaveLength(2);
    }
    // The base layer (the same for both platforms) was mounted across repositories, never uploaded again.
    const baseLayer = JSON.parse(
      skopeoRaw(`${registry.host}/bases/site@${baseIndex.manifests[0].digest}`).toString(),
    ).layers[0].digest as string;
    const writes = blobWrites(proxy.requests);
    expect(writes.filter((w) => w.includes(`mount=${encodeURIComponent(baseLayer)}`))).toHaveLength(1);
    expect(writes.filter((w) => w.startsWith('PUT') && w.includes(baseLayer.slice(7)))).toEqual([]);

    // Only one platform asked for: an index with that one.
    const runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-runner-temp-'));
    cleanup.push(() => fs.rmSync(runnerTemp, { recursive: true, force: true }));
    const arm = await runAction(
      'build',
      {
        image: `${registry.host}/apps/on-base`,
        context,
        'source-date-epoch': EPOCH,
        base: base.outputs['image']!,
        files: 'site/about.html:/www/about/index.html',
        platforms: 'linux/arm64',
      },
      { env: { RUNNER_TEMP: runnerTemp } },
    );
    expect(arm.code, arm.log).toBe(0);
    // The build record for attest names the base.
    const record = JSON.parse(
      fs.readFileSync(path.join(runnerTemp, 'anew', `build-${arm.outputs['digest']!.slice(7)}.json`), 'utf8'),
    );
    expect(record.baseDigest).toBe(base.outputs['digest']);
    const armIndex = JSON.parse(
      skopeoRaw(`${registry.host}/apps/on-base@${arm.outputs['digest']}`).toString(),
    );
    expect(
      armIndex.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ).toEqual(['arm64']);
  });
});

describe('bad input: a clear error and nothing pushed', () => {
  let empty: RunningService;
  let badConfigDir: string;
  beforeAll(async () => {
    empty = await startRegistry();
    badConfigDir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-docker-config-'));
    fs.writeFileSync(path.join(badConfigDir, 'config.json'), '{"auths": {');
  });
  afterAll(async () => {
    await empty?.stop();
    fs.rmSync(badConfigDir, { recursive: true, force: true });
  });

  it.each([
    ['a malformed image name', { image: 'REG/Bad Name' }, {}, /input "image".*white space/],
    [
      'a missing context',
      { context: '/nonexistent/anew-context' },
      {},
      /context "\/nonexistent\/anew-context" does not exist/,
    ],
    [
      'a source outside the context',
      { files: '../outside:/x' },
      {},
      /"\.\.\/outside" in input "files" is outside the context/,
    ],
    [
      'a symlink escaping the context',
      { files: 'escape:/x' },
      {},
      /is a symlink to ".*", outside the context/,
    ],
    [
      'an unknown platform of the base',
      { base: 'BASE', platforms: 'linux/s390x' },
      {},
      /has no image for linux\/s390x.*It has: linux\/amd64/,
    ],
    [
      'an unreadable docker config',
      {},
      { DOCKER_CONFIG: 'BADCONFIG' },
      /docker config .*config\.json is not valid JSON/,
    ],
  ])('%s', async (_what, override, env, message) => {
    // A base in another registry, so the empty one only sees what this build pushes.
    if ((override as Record<string, string>)['base'] === 'BASE') {
      const base = await runAction('build', buildInputs(`${registry.host}/bases/amd64-only`));
      expect(base.code, base.log).toBe(0);
      (override as Record<string, string>)['base'] = base.outputs['image']!;
    }
    if ((override as Record<string, string>)['files'] === 'escape:/x')
      fs.symlinkSync('/etc', path.join(context, 'escape'), 'dir');
    const r = await runAction(
      'build',
      { ...buildInputs(`${empty.host}/bad/input`), ...override },
      {
        env: Object.fromEntries(
          Object.entries(env).map(([k, v]) => [k, v === 'BADCONFIG' ? badConfigDir : v]),
        ),
      },
    );
    fs.rmSync(path.join(context, 'escape'), { force: true });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/anew\/build: /);
    expect(r.log).toMatch(message);
    expect(r.log).not.toMatch(/\n\s+at /); // a user error, not a stack trace
    expect(await registryContents(empty.host)).toEqual({});
  });
});

describe('a registry that refuses the upload', () => {
  it("fails the step with the registry's error, while other uploads run beside it", async () => {
    const proxy = await recordingProxy(registry.host, {
      deny: (r) => r.startsWith('PUT') && r.includes('/blobs/uploads/'),
    });
    cleanup.push(() => proxy.close());
    const r = await runAction(
      'build',
      buildInputs(`${proxy.host}/refused/web`, { labels: 'org.example.case=refused' }),
    );
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/anew\/build: .*(DENIED|uploads refused by the test proxy)/);
    expect(r.log).not.toMatch(/Unhandled|unhandledRejection|\n\s+at /);
    expect(proxy.requests.filter((q) => q.includes('/manifests/') && q.startsWith('PUT'))).toEqual([]);
  });
});

describe('registry credentials', () => {
  // A private registry with the services' htpasswd: nothing is left behind, and every run builds.
  let authRegistry: RunningService;
  beforeAll(async () => {
    authRegistry = await startRegistry({ htpasswd: path.join(servicesDir(), 'htpasswd') });
  });
  afterAll(() => authRegistry?.stop());
  const auth = () => ({ ...services.authRegistry, host: authRegistry.host });

  it('pushes with registry-username and registry-password, and prints the password nowhere but in the mask command', async () => {
    const { host, username, password } = auth();
    const r = await runAction('build', {
      ...buildInputs(`${host}/auth/web`),
      'registry-username': username,
      'registry-password': password,
    });
    expect(r.code, r.log).toBe(0);
    expect(r.log).toContain(`::add-mask::${password}`);
    expect(r.log.split('\n').filter((l) => l.includes(password) && !l.startsWith('::add-mask::'))).toEqual(
      [],
    );
    expect(sha256(skopeoRaw(r.outputs['image']!, { username, password }))).toBe(r.outputs['digest']);
  });

  it('takes them from the docker config when no input gives them', async () => {
    const { host, username, password } = auth();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-docker-config-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const authField = Buffer.from(`${username}:${password}`).toString('base64');
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ auths: { [host]: { auth: authField } } }),
    );
    const r = await runAction('build', buildInputs(`${host}/auth/from-config`), {
      env: { DOCKER_CONFIG: dir },
    });
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['digest']).toMatch(/^sha256:/);
  });

  it('fails clearly without them', async () => {
    const { host } = auth();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-docker-config-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const r = await runAction('build', buildInputs(`${host}/auth/denied`), { env: { DOCKER_CONFIG: dir } });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/anew\/build: .* requires credentials and none were found.*registry-username/);
  });

  it('refuses only one of the two inputs before contacting anything', async () => {
    const r = await runAction('build', {
      ...buildInputs(`${auth().host}/auth/half`),
      'registry-username': 'u',
    });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/only one of "registry-username" and "registry-password" is set/);
  });
});

/** The uncompressed top layer of an image, read straight from the registry. */
async function topLayer(host: string, repo: string, digest: string): Promise<Buffer> {
  const get = async (p: string, accept?: string) => {
    const res = await fetch(`http://${host}/v2/${repo}/${p}`, { headers: accept ? { accept } : {} });
    if (!res.ok) throw new Error(`GET ${p}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const manifest = JSON.parse(
    (await get(`manifests/${digest}`, 'application/vnd.oci.image.manifest.v1+json')).toString(),
  );
  return zlib.gunzipSync(await get(`blobs/${manifest.layers.at(-1).digest}`));
}

describe('golden digest', () => {
  // Fixed inputs, nothing taken from this machine: the digests below are committed, and any
  // change to how anew writes an image (tar, gzip, config, manifest) must change them on purpose
  // (and bump DAEMONLESS_BUILDER). Both Node runtimes must give them: gzip comes from each Node's zlib.
  const GOLDEN = {
    digest: 'sha256:b15abc2ca2ab88a8260a4efcda4345302aeacd144fa88771058784cb6a14cb2f',
    inputsDigest: 'sha256:c6f7ac77dd0fa8b47cea3492a5672c7e7cb7f0128c441a03babe50f2acca0117',
  };

  function goldenContext(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-golden-'));
    const w = (rel: string, data: string | Buffer, mode = 0o644) => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), data);
      fs.chmodSync(path.join(dir, rel), mode);
    };
    w('site/index.html', '<h1>golden</h1>\n');
    w('site/css/app.css', 'body { color: gold }\n', 0o600);
    w(`site/${'deep/'.repeat(22)}é-long-name.txt`, 'a PAX path\n');
    w('bin/run', '#!/bin/sh\necho golden\n', 0o755);
    // More than one 1 MiB gzip block, pseudo-random so it does not compress away.
    const big = Buffer.alloc(3 * 1024 * 1024 + 12345);
    let x = 2463534242;
    for (let i = 0; i < big.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      big[i] = x & 0x3f;
    }
    w('data/big.bin', big);
    // Random-looking bytes, stored rather than deflated; with big.bin, enough blocks for the
    // compression threads.
    const noise = Buffer.alloc(1536 * 1024 + 777);
    for (let i = 0; i < noise.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      noise[i] = x & 0xff;
    }
    w('data/noise.bin', noise);
    fs.symlinkSync('index.html', path.join(dir, 'site/home.html'));
    fs.linkSync(path.join(dir, 'site/index.html'), path.join(dir, 'site/same.html'));
    return dir;
  }

  it('a fixed set of inputs gives the committed digests under Node 20 and Node 24', async () => {
    const ctx = goldenContext();
    cleanup.push(() => fs.rmSync(ctx, { recursive: true, force: true }));
    for (const node of [NODE24, NODE_LOCAL]) {
      const r = await runAction(
        'build',
        {
          image: `${registry.host}/golden/${node === NODE24 ? 'node24' : 'local'}`,
          context: ctx,
          'source-date-epoch': '1700000000',
          files: 'site/:/www/\nbin/run:/usr/local/bin/\ndata/big.bin:/data/\ndata/noise.bin:/data/',
          env: 'MODE=golden',
          entrypoint: '["/usr/local/bin/run"]',
          labels: 'org.opencontainers.image.title=golden',
          cache: 'false',
        },
        // The run's commit and repository become labels: none here, also when the suite runs in a workflow.
        { node, env: { GITHUB_SHA: undefined, GITHUB_REPOSITORY: undefined, GITHUB_SERVER_URL: undefined } },
      );
      expect(r.code, r.log).toBe(0);
      expect(
        { digest: r.outputs['digest'], inputsDigest: r.outputs['inputs-digest'] },
        `under ${node}`,
      ).toEqual(GOLDEN);
    }
  });
});

describe('a context swapped while builds run', () => {
  let swapper: ChildProcess | undefined;
  afterAll(() => swapper?.kill('SIGKILL'));

  it('never puts a file from outside the context into the layer', async () => {
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-swap-ctx-'));
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-swap-outside-'));
    cleanup.push(() => fs.rmSync(ctx, { recursive: true, force: true }));
    cleanup.push(() => fs.rmSync(outside, { recursive: true, force: true }));
    // As long as the context file: a size check alone cannot tell them apart.
    fs.writeFileSync(path.join(outside, 'secret'), 'OUTSIDE-SECRET-XYZ\n');
    expect(fs.statSync(path.join(outside, 'secret')).size).toBe('inside the context\n'.length);
    // The regular file keeps one inode (a hard link stays beside it), so a build that catches it
    // between swaps can succeed; the symlink is renamed over it atomically, as an attacker would.
    // (The symlink goes first: renaming a link of the same file over it would do nothing.)
    fs.writeFileSync(path.join(ctx, 'keep'), 'inside the context\n');
    fs.linkSync(path.join(ctx, 'keep'), path.join(ctx, 'f'));
    const script = `
      const fs = require('node:fs');
      const [ctx, secret] = process.argv.slice(1);
      const until = Date.now() + 120000;
      let n = 0;
      while (Date.now() < until) {
        fs.symlinkSync(secret, ctx + '/t2');
        fs.renameSync(ctx + '/t2', ctx + '/f');
        fs.linkSync(ctx + '/keep', ctx + '/t1');
        fs.renameSync(ctx + '/t1', ctx + '/f');
        if (++n % 1000 === 0) {
          fs.writeFileSync(ctx + '.count-new', String(n));
          fs.renameSync(ctx + '.count-new', ctx + '.count');
        }
      }`;
    swapper = spawn(process.execPath, ['-e', script, ctx, path.join(outside, 'secret')], { stdio: 'ignore' });
    cleanup.push(() => fs.rmSync(`${ctx}.count`, { force: true }));
    cleanup.push(() => fs.rmSync(`${ctx}.count-new`, { force: true }));
    const results: string[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const r = await runAction('build', {
          image: `${registry.host}/swap/web`,
          context: ctx,
          files: 'f:/f',
          'source-date-epoch': EPOCH,
          cache: 'false',
        });
        if (r.code === 0) {
          const layer = (await topLayer(registry.host, 'swap/web', r.outputs['digest']!)).toString('latin1');
          results.push(
            layer.includes('OUTSIDE-SECRET')
              ? 'exit 0 with the outside file in the layer'
              : layer.includes('inside the context')
                ? 'exit 0 with the context file'
                : 'exit 0 without the file',
          );
        } else {
          const clear =
            /anew\/build: .*("f" in input "files" is a symlink to .*outside the context|changed while the image was being built|neither a file nor a directory|does not exist in the context)/.test(
              r.log,
            ) && !/\n\s+at /.test(r.log);
          results.push(clear ? 'refused clearly' : `refused unclearly: ${r.log.slice(-400)}`);
        }
      }
    } finally {
      swapper.kill('SIGKILL');
    }
    expect(results.filter((r) => !['exit 0 with the context file', 'refused clearly'].includes(r))).toEqual(
      [],
    );
    // The swapper really raced the builds.
    expect(Number(fs.readFileSync(`${ctx}.count`, 'utf8'))).toBeGreaterThan(1000);
  });
});
