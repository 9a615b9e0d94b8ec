import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './helpers/action.ts';
import { Podman } from './helpers/build-tools.ts';
import { docker, type RunningService, startRegistry } from './helpers/services.ts';

/**
 * The daemonless build on a real multi-file base: merged /usr (bin and lib
 * are symlinks into usr), var/run -> /run, /tmp 1777, a non-root user, and
 * two layers, the second with a whiteout. The base is made here with GNU tar
 * and pushed with skopeo (independent tools), the result is run by the real
 * Docker engine and by podman, and its layer is listed with GNU tar.
 */
const sha256hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let registry: RunningService;
let work: string;
let baseImage: string;
let mixedBase: string;
const cleanup: (() => unknown)[] = [];

function layerOf(dir: string, file: string): { gz: Buffer; diffId: string } {
  // GNU tar as docker writes layers: numeric owners as they are on disk, "./" names, one mtime.
  const tar = execFileSync(
    'tar',
    ['-C', dir, '--numeric-owner', '--sort=name', '--mtime=@1600000000', '-cf', '-', '.'],
    { maxBuffer: 64 << 20 },
  );
  const gz = zlib.gzipSync(tar);
  fs.writeFileSync(file, gz);
  return { gz, diffId: `sha256:${sha256hex(tar)}` };
}

/**
 * An OCI image layout pushed by skopeo to `ref`: one image per entry of
 * `images` (its architecture and layers), under an index when there are
 * several.
 */
function pushBase(images: { arch: string; layers: { gz: Buffer; diffId: string }[] }[], ref: string): void {
  const layout = fs.mkdtempSync(path.join(work, 'layout-'));
  const blobs = path.join(layout, 'blobs/sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const hex = sha256hex(b);
    fs.writeFileSync(path.join(blobs, hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const manifests = images.map(({ arch, layers }) => {
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        config: { User: 'app', Env: ['PATH=/usr/bin:/bin'], WorkingDir: '/home/app', Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created_by: 'test base' })),
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(config) },
        layers: layers.map((l) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          ...put(l.gz),
        })),
      }),
    );
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...put(manifest),
      platform: { os: 'linux', architecture: arch },
    };
  });
  const top =
    manifests.length === 1
      ? manifests[0]!
      : {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          ...put(
            Buffer.from(
              JSON.stringify({
                schemaVersion: 2,
                mediaType: 'application/vnd.oci.image.index.v1+json',
                manifests,
              }),
            ),
          ),
        };
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': 'base' } }],
    }),
  );
  execFileSync('skopeo', [
    'copy',
    '--quiet',
    '--all',
    '--dest-tls-verify=false',
    `oci:${layout}:base`,
    `docker://${ref}`,
  ]);
}

beforeAll(async () => {
  registry = await startRegistry();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-real-base-'));
  // Layer 1: a merged-/usr system with busybox, a user, /tmp 1777 and /var/run -> /run.
  const l1 = path.join(work, 'l1');
  const mk = (p: string, mode = 0o755, owner = 0) => {
    fs.mkdirSync(path.join(l1, p), { recursive: true });
    fs.chmodSync(path.join(l1, p), mode);
    fs.chownSync(path.join(l1, p), owner, owner);
  };
  for (const d of ['usr', 'usr/bin', 'usr/lib', 'etc', 'run', 'var', 'home']) mk(d);
  mk('tmp', 0o1777);
  mk('home/app', 0o700, 1000);
  fs.copyFileSync('/bin/busybox', path.join(l1, 'usr/bin/busybox'));
  fs.chmodSync(path.join(l1, 'usr/bin/busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(l1, 'usr/bin/sh'));
  fs.writeFileSync(path.join(l1, 'usr/lib/os-release'), 'ID=anew-test\n');
  fs.writeFileSync(path.join(l1, 'usr/lib/old.so'), 'deleted by the next layer\n');
  fs.writeFileSync(
    path.join(l1, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
  );
  fs.writeFileSync(path.join(l1, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
  fs.symlinkSync('usr/bin', path.join(l1, 'bin'));
  fs.symlinkSync('usr/lib', path.join(l1, 'lib'));
  fs.symlinkSync('/run', path.join(l1, 'var/run'));
  // Layer 2: a file added, one deleted by a whiteout.
  const l2 = path.join(work, 'l2');
  fs.mkdirSync(path.join(l2, 'usr/lib'), { recursive: true });
  fs.mkdirSync(path.join(l2, 'etc'));
  fs.writeFileSync(path.join(l2, 'etc/motd'), 'second layer\n');
  fs.writeFileSync(path.join(l2, 'usr/lib/.wh.old.so'), '');
  baseImage = `${registry.host}/real/base:1`;
  const merged = [layerOf(l1, path.join(work, 'l1.tar.gz')), layerOf(l2, path.join(work, 'l2.tar.gz'))];
  pushBase([{ arch: 'amd64', layers: merged }], baseImage);
  // An index whose arm64 image has a real /lib directory (0750): the two platforms place /lib/x differently.
  const l3 = path.join(work, 'l3');
  fs.mkdirSync(path.join(l3, 'lib'), { recursive: true });
  fs.chmodSync(path.join(l3, 'lib'), 0o750);
  fs.writeFileSync(path.join(l3, 'lib/os-release'), 'ID=split-usr\n');
  mixedBase = `${registry.host}/real/mixed:1`;
  pushBase(
    [
      { arch: 'amd64', layers: merged },
      { arch: 'arm64', layers: [layerOf(l3, path.join(work, 'l3.tar.gz'))] },
    ],
    mixedBase,
  );
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await registry?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const CHECK = [
  'stat -c "tmp %a %u" /tmp',
  'echo "lib $(readlink /lib)"',
  'echo "var/run $(readlink /var/run)"',
  'echo "user $(id -un) $(id -u)"',
  'echo "usr/lib $(ls /lib | tr "\\n" " ")"',
  'cat /tmp/hello.txt /var/run/site/index.html /etc/motd',
  'stat -c "home %a %u" /home/app',
].join('; ');

describe('daemonless build on a real merged-/usr base', () => {
  let built: Awaited<ReturnType<typeof runAction>>;
  beforeAll(async () => {
    const ctx = path.join(work, 'ctx');
    fs.mkdirSync(path.join(ctx, 'site'), { recursive: true });
    fs.writeFileSync(path.join(ctx, 'check.sh'), `${CHECK}\n`);
    fs.writeFileSync(path.join(ctx, 'hello.txt'), 'hello from /tmp\n');
    fs.writeFileSync(path.join(ctx, 'site/index.html'), '<h1>site under /run</h1>\n');
    built = await runAction('build', {
      image: `${registry.host}/real/app`,
      context: ctx,
      base: baseImage,
      'source-date-epoch': '1700000000',
      // Through the base's lib -> usr/lib, into its /tmp, through var/run -> /run.
      files: 'check.sh:/lib/anew/check.sh\nhello.txt:/tmp/\nsite/:/var/run/site/',
      entrypoint: '["/bin/sh", "/lib/anew/check.sh"]',
    });
    if (built.code !== 0) throw new Error(`build failed:\n${built.log}`);
  });

  it("writes a layer that goes through the base's symlinks and keeps its directories as they are", async () => {
    const get = async (p: string, accept?: string) => {
      const res = await fetch(`http://${registry.host}/v2/real/app/${p}`, {
        headers: accept ? { accept } : {},
      });
      expect(res.status).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const manifest = JSON.parse(
      (
        await get(`manifests/${built.outputs['digest']}`, 'application/vnd.oci.image.manifest.v1+json')
      ).toString(),
    );
    expect(manifest.layers).toHaveLength(3);
    expect(built.log).toContain('linux/amd64: /lib is /usr/lib in the base (through its symlinks)');
    expect(built.log).toContain('linux/amd64: /var/run is /run in the base (through its symlinks)');
    const layer = path.join(work, 'ours.tar.gz');
    fs.writeFileSync(layer, await get(`blobs/${manifest.layers[2].digest}`));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvzf', layer], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => {
        const f = l.split(/\s+/);
        return `${f[0]} ${f[1]} ${f.slice(5).join(' ')}`;
      });
    expect(listing).toEqual([
      'drwxr-xr-x 0/0 run/',
      'drwxr-xr-x 0/0 run/site/',
      '-rw-r--r-- 0/0 run/site/index.html',
      'drwxrwxrwt 0/0 tmp/',
      '-rw-r--r-- 0/0 tmp/hello.txt',
      'drwxr-xr-x 0/0 usr/',
      'drwxr-xr-x 0/0 usr/lib/',
      'drwxr-xr-x 0/0 usr/lib/anew/',
      '-rw-r--r-- 0/0 usr/lib/anew/check.sh',
      'drwxr-xr-x 0/0 var/',
    ]);
  });

  const expected = [
    'tmp 1777 0',
    'lib usr/lib',
    'var/run /run',
    'user app 1000',
    'usr/lib anew os-release ',
    'hello from /tmp',
    '<h1>site under /run</h1>',
    'second layer',
    'home 700 1000',
  ];

  it('runs under the Docker engine with the base untouched', () => {
    const image = built.outputs['image']!;
    cleanup.push(() => {
      try {
        docker(['image', 'rm', '--force', image]);
      } catch {
        // never pulled
      }
    });
    const out = docker(['run', '--rm', '--network', 'none', image]);
    expect(out.trim().split('\n')).toEqual(expected);
  });

  it('runs under podman with the base untouched', () => {
    const podman = new Podman();
    cleanup.push(() => podman.cleanup());
    const out = podman.run([
      'run',
      '--rm',
      '--network',
      'none',
      '--tls-verify=false',
      built.outputs['image']!,
    ]);
    expect(out.trim().split('\n')).toEqual(expected);
  });

  it('refuses a file over a directory of the base, and a whiteout name, before pushing anything', async () => {
    const ctx = path.join(work, 'bad');
    fs.mkdirSync(ctx, { recursive: true });
    fs.writeFileSync(path.join(ctx, 'conf'), 'x\n');
    fs.writeFileSync(path.join(ctx, '.wh.motd'), '');
    for (const [files, message] of [
      ['conf:/etc', /"\/etc" is a directory in the base image.*end the destination with "\/"/],
      ['.wh.motd:/etc/', /named like an OCI whiteout/],
    ] as const) {
      const r = await runAction('build', {
        image: `${registry.host}/real/refused`,
        context: ctx,
        base: baseImage,
        files,
      });
      expect(r.code).not.toBe(0);
      expect(r.log).toMatch(message);
      expect(r.log).not.toMatch(/\n\s+at /);
    }
    const tags = await fetch(`http://${registry.host}/v2/real/refused/tags/list`);
    expect(tags.status).toBe(404);
  });

  it("places the layer on each platform of an index as that platform's base has it", async () => {
    const ctx = path.join(work, 'ctx');
    const r = await runAction('build', {
      image: `${registry.host}/real/mixed-app`,
      context: ctx,
      base: mixedBase,
      'source-date-epoch': '1700000000',
      files: 'check.sh:/lib/anew/check.sh',
    });
    expect(r.code, r.log).toBe(0);
    const get = async (p: string, accept: string) =>
      Buffer.from(
        await (
          await fetch(`http://${registry.host}/v2/real/mixed-app/${p}`, { headers: { accept } })
        ).arrayBuffer(),
      );
    const index = JSON.parse(
      (await get(`manifests/${r.outputs['digest']}`, 'application/vnd.oci.image.index.v1+json')).toString(),
    );
    const listings: Record<string, string[]> = {};
    for (const d of index.manifests) {
      const m = JSON.parse(
        (await get(`manifests/${d.digest}`, 'application/vnd.oci.image.manifest.v1+json')).toString(),
      );
      const file = path.join(work, `mixed-${d.platform.architecture}.tar.gz`);
      fs.writeFileSync(file, await get(`blobs/${m.layers.at(-1).digest}`, '*/*'));
      listings[d.platform.architecture] = execFileSync('tar', ['--numeric-owner', '-tvzf', file], {
        encoding: 'utf8',
      })
        .trim()
        .split('\n')
        .map((l) => `${l.split(/\s+/)[0]} ${l.split(/\s+/).slice(5).join(' ')}`);
    }
    expect(listings).toEqual({
      amd64: [
        'drwxr-xr-x usr/',
        'drwxr-xr-x usr/lib/',
        'drwxr-xr-x usr/lib/anew/',
        '-rw-r--r-- usr/lib/anew/check.sh',
      ],
      arm64: ['drwxr-x--- lib/', 'drwxr-xr-x lib/anew/', '-rw-r--r-- lib/anew/check.sh'],
    });
  });
});
