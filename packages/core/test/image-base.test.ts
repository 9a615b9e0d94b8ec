import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  applyLayer,
  type BaseTree,
  collectEntries,
  describeEntries,
  type LayerEntry,
  parseFileMappings,
  placeEntries,
  readTar,
  resolveContext,
  type TarEntry,
  TarHeaderReader,
  tarHeader,
  writeLayer,
} from '@anew/core/image';
import { afterEach, describe, expect, it } from 'vitest';

const tmps: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-image-base-test-'));
  tmps.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const entry = (p: string, type: string, extra: Partial<TarEntry> = {}): TarEntry => ({
  path: p,
  type,
  mode: type === '5' ? 0o755 : type === '2' ? 0o777 : 0o644,
  uid: 0,
  gid: 0,
  mtime: 1600000000,
  linkname: '',
  ...extra,
});

/** A merged-usr base: lib and bin are symlinks into usr, var/run points at /run, /tmp is 1777, /home/app is the user's. */
function mergedUsrBase(): BaseTree {
  const tree: BaseTree = new Map();
  applyLayer(tree, [
    entry('bin', '2', { linkname: 'usr/bin' }),
    entry('lib', '2', { linkname: 'usr/lib' }),
    entry('usr', '5'),
    entry('usr/bin', '5'),
    entry('usr/bin/busybox', '0', { mode: 0o755 }),
    entry('usr/lib', '5', { mode: 0o755, mtime: 1500000000 }),
    entry('run', '5'),
    entry('var', '5'),
    entry('var/run', '2', { linkname: '/run' }),
    entry('tmp', '5', { mode: 0o1777 }),
    entry('home', '5'),
    entry('home/app', '5', { mode: 0o700, uid: 1000, gid: 1000 }),
    entry('etc', '5'),
    entry('etc/passwd', '0'),
    entry('etc/old', '0'),
    entry('opt', '5'),
    entry('opt/a', '0'),
  ]);
  return tree;
}

const mine = (p: string, type: LayerEntry['type'] = 'file', extra: Partial<LayerEntry> = {}): LayerEntry => ({
  path: p,
  type,
  mode: type === 'dir' ? 0o755 : 0o644,
  size: 0,
  ...extra,
});

const show = (es: LayerEntry[]) =>
  es.map(
    (e) =>
      `${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid ?? 0}:${e.gid ?? 0}${e.linkname ? ` -> ${e.linkname}` : ''}`,
  );

describe('a layer placed on a base', () => {
  it('goes through the base symlinks as a chroot would, keeping them, and takes the base directories as they are', () => {
    const moves: string[] = [];
    const placed = placeEntries(
      [
        mine('lib', 'dir'),
        mine('lib/anew', 'dir'),
        mine('lib/anew/app.sh', 'file', { mode: 0o755 }),
        mine('tmp', 'dir'),
        mine('tmp/hello.txt'),
        mine('var', 'dir'),
        mine('var/run', 'dir'),
        mine('var/run/site', 'dir'),
        mine('var/run/site/index.html'),
        mine('var/run/site/same.html', 'link', { linkname: 'var/run/site/index.html' }),
        mine('home', 'dir'),
        mine('home/app', 'dir'),
        mine('home/app/.profile'),
      ],
      mergedUsrBase(),
      (from, to) => moves.push(`${from} -> ${to}`),
    );
    // Said where each move starts, not for every path below it.
    expect(moves).toEqual(['lib -> usr/lib', 'var/run -> run']);
    expect(show(placed)).toEqual([
      'dir home 755 0:0',
      'dir home/app 700 1000:1000',
      'file home/app/.profile 644 0:0',
      'dir run 755 0:0',
      'dir run/site 755 0:0',
      'file run/site/index.html 644 0:0',
      'link run/site/same.html 644 0:0 -> run/site/index.html',
      'dir tmp 1777 0:0',
      'file tmp/hello.txt 644 0:0',
      'dir usr 755 0:0',
      'dir usr/lib 755 0:0',
      'dir usr/lib/anew 755 0:0',
      'file usr/lib/anew/app.sh 755 0:0',
      'dir var 755 0:0',
    ]);
    // No entry replaces a symlink of the base; the base's directories keep their mtime.
    expect(placed.map((e) => e.path)).not.toContain('lib');
    expect(placed.map((e) => e.path)).not.toContain('var/run');
    expect(placed.find((e) => e.path === 'usr/lib')!.mtime).toBe(1500000000);
  });

  it('leaves the entries as they are on scratch', () => {
    const es = [mine('a', 'dir'), mine('a/b')];
    expect(placeEntries(es, undefined)).toEqual(es);
  });

  it.each([
    [
      'a file over a directory of the base',
      [mine('etc')],
      /"\/etc" is a directory in the base image.*end the destination with "\/"/s,
    ],
    [
      'a directory where the base has a file',
      [mine('etc', 'dir'), mine('etc/passwd', 'dir')],
      /"\/etc\/passwd" is a file in the base image/,
    ],
    [
      'a file under a file of the base',
      [mine('etc', 'dir'), mine('etc/passwd', 'dir'), mine('etc/passwd/x')],
      /"\/etc\/passwd" is a file in the base image/,
    ],
    [
      'two paths that are one through a symlink',
      [mine('lib', 'dir'), mine('lib/x'), mine('usr', 'dir'), mine('usr/lib', 'dir'), mine('usr/lib/x')],
      /"\/lib\/x" and "\/usr\/lib\/x" are the same path "\/usr\/lib\/x"/,
    ],
  ])('refuses %s', (_what, es, message) => {
    expect(() => placeEntries(es, mergedUsrBase())).toThrow(message);
  });

  it('refuses a path through a symlink loop of the base', () => {
    const tree: BaseTree = new Map();
    applyLayer(tree, [entry('a', '2', { linkname: 'b' }), entry('b', '2', { linkname: '/a' })]);
    expect(() => placeEntries([mine('a', 'dir'), mine('a/x')], tree)).toThrow(/more than 40 symlinks/);
  });
});

describe('the base tree', () => {
  it('applies whiteouts and opaque directories to the layers below only', () => {
    const tree = mergedUsrBase();
    applyLayer(tree, [
      entry('etc/.wh.old', '0'),
      entry('opt/.wh..wh..opq', '0'),
      entry('opt/b', '0'),
      entry('usr/lib/new', '0'),
    ]);
    expect(tree.has('etc/old')).toBe(false);
    expect(tree.has('etc/passwd')).toBe(true);
    expect(tree.has('opt/a')).toBe(false);
    expect(tree.has('opt/b')).toBe(true);
    expect(tree.has('opt')).toBe(true);
    // A file replacing a directory takes the directory's contents with it.
    applyLayer(tree, [entry('usr/lib', '0')]);
    expect(tree.has('usr/lib/new')).toBe(false);
  });

  it('reads the headers GNU tar writes (long names, PAX, owners) as they are', () => {
    const dir = tmp();
    const long = `d/${'n'.repeat(150)}/f`;
    fs.mkdirSync(path.join(dir, path.dirname(long)), { recursive: true });
    fs.writeFileSync(path.join(dir, long), 'x'.repeat(700));
    fs.mkdirSync(path.join(dir, 'tmp'));
    fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
    fs.symlinkSync('/run', path.join(dir, 'run-link'));
    for (const format of ['gnu', 'pax']) {
      const tar = execFileSync('tar', [
        '-C',
        dir,
        `--format=${format}`,
        '--owner=1234:1234',
        '--group=4321:4321',
        '--mtime=@1600000000',
        '--sort=name',
        '-cf',
        '-',
        '.',
      ]);
      const got = readTar(tar);
      // Fed in uneven pieces, as a gunzip stream hands them over, it reads the same.
      const pieces: TarEntry[] = [];
      const reader = new TarHeaderReader((e) => pieces.push(e));
      for (let at = 0, n = 1; at < tar.length; at += n, n = (n * 7) % 1031)
        reader.push(tar.subarray(at, at + n));
      expect(pieces).toEqual(got);
      const byPath = new Map(got.map((e) => [e.path, e]));
      expect(byPath.get(long)?.type).toBe('0');
      expect(byPath.get('tmp')).toMatchObject({
        type: '5',
        mode: 0o1777,
        uid: 1234,
        gid: 4321,
        mtime: 1600000000,
      });
      expect(byPath.get('run-link')).toMatchObject({ type: '2', linkname: '/run' });
    }
  });

  it('reads what our own writer writes', () => {
    const tar = Buffer.concat([
      tarHeader({
        path: `p/${'é'.repeat(80)}`,
        type: 'dir',
        mode: 0o1777,
        size: 0,
        mtime: 5,
        uid: 3_000_000,
        gid: 7,
      }),
      tarHeader({ path: 'h', type: 'link', mode: 0o644, size: 0, mtime: 5, linkname: `p/${'é'.repeat(80)}` }),
      Buffer.alloc(1024),
    ]);
    expect(readTar(tar)).toEqual([
      {
        path: `p/${'é'.repeat(80)}`,
        type: '5',
        mode: 0o1777,
        uid: 3_000_000,
        gid: 7,
        mtime: 5,
        linkname: '',
      },
      { path: 'h', type: '1', mode: 0o644, uid: 0, gid: 0, mtime: 5, linkname: `p/${'é'.repeat(80)}` },
    ]);
  });
});

describe('context files', () => {
  it('refuses names that are OCI whiteouts, in the context and as a destination', () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'site'));
    fs.writeFileSync(path.join(dir, 'site/.wh.index.html'), 'x');
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const root = resolveContext(dir);
    expect(() => collectEntries(root, parseFileMappings(['site/:/www/']))).toThrow(
      /"\/www\/\.wh\.index\.html".*named like an OCI whiteout/,
    );
    expect(() => collectEntries(root, parseFileMappings(['f:/etc/.wh..wh..opq']))).toThrow(/OCI whiteout/);
  });

  it('stores hard links as tar links, and one source mapped twice as two files', async () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'site'));
    fs.writeFileSync(path.join(dir, 'site/a.html'), 'same bytes\n');
    fs.linkSync(path.join(dir, 'site/a.html'), path.join(dir, 'site/b.html'));
    const root = resolveContext(dir);
    const entries = collectEntries(root, parseFileMappings(['site/:/www/', 'site/a.html:/copy.html']));
    expect(show(entries)).toEqual([
      'file copy.html 644 0:0',
      'dir www 755 0:0',
      'file www/a.html 644 0:0',
      'link www/b.html 644 0:0 -> www/a.html',
    ]);
    await describeEntries(entries);
    const layer = await writeLayer(entries, 1700000000, path.join(tmp(), 'l.tar.gz'));
    const out = tmp();
    execFileSync('tar', ['-xzf', layer.path, '-C', out]);
    const a = fs.statSync(path.join(out, 'www/a.html'));
    expect(fs.statSync(path.join(out, 'www/b.html')).ino).toBe(a.ino);
    expect(a.nlink).toBe(2);
    expect(fs.statSync(path.join(out, 'copy.html')).ino).not.toBe(a.ino);
    expect(fs.readFileSync(path.join(out, 'www/b.html'), 'utf8')).toBe('same bytes\n');
    // The link has no content of its own in the tar.
    expect(zlib.gunzipSync(fs.readFileSync(layer.path)).toString('latin1').split('same bytes').length).toBe(
      3,
    );
  });
});

describe('a context that changes during the build', () => {
  async function hashed() {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'd'));
    fs.writeFileSync(path.join(dir, 'd/f'), 'inside\n');
    const root = resolveContext(dir);
    const entries = collectEntries(root, parseFileMappings(['d/:/d/']));
    await describeEntries(entries);
    return { dir, root, entries, out: path.join(tmp(), 'l.tar.gz') };
  }

  it('fails when a file changes between hashing and writing, even at the same size', async () => {
    const { dir, entries, out } = await hashed();
    fs.writeFileSync(path.join(dir, 'd/f'), 'INSIDE\n');
    await expect(writeLayer(entries, 0, out)).rejects.toThrow(
      /d\/f" changed while the image was being built: its content differs from what was hashed/,
    );
  });

  it('fails when a file is replaced by a symlink (to a file outside) after the walk', async () => {
    const { dir, entries, out } = await hashed();
    const outside = path.join(tmp(), 'secret');
    fs.writeFileSync(outside, 'secret\n');
    fs.symlinkSync(outside, path.join(dir, 'd/g'));
    fs.renameSync(path.join(dir, 'd/g'), path.join(dir, 'd/f'));
    await expect(writeLayer(entries, 0, out)).rejects.toThrow(
      /changed while the image was being built: it is now a symlink/,
    );
    await expect(describeEntries(entries)).rejects.toThrow(/it is now a symlink/);
  });

  it('refuses a handle whose real path left the context through a swapped parent directory', async () => {
    const { dir, entries, out } = await hashed();
    // The same file (a hard link) outside the context, reached by swapping the parent for a symlink:
    // O_NOFOLLOW cannot see it and the inode is the same; only the handle's real path tells.
    const outsideDir = tmp();
    fs.linkSync(path.join(dir, 'd/f'), path.join(outsideDir, 'f'));
    fs.renameSync(path.join(dir, 'd'), path.join(dir, 'd-old'));
    fs.symlinkSync(outsideDir, path.join(dir, 'd'));
    await expect(writeLayer(entries, 0, out)).rejects.toThrow(/now leads to ".*\/f", outside the context/);
  });

  it('is not fooled by a folder beside the context whose name begins with the same name', async () => {
    const { dir, entries, out } = await hashed();
    const beside = `${dir}-beside`;
    fs.mkdirSync(beside);
    try {
      fs.linkSync(path.join(dir, 'd/f'), path.join(beside, 'f'));
      fs.renameSync(path.join(dir, 'd'), path.join(dir, 'd-old'));
      fs.symlinkSync(beside, path.join(dir, 'd'));
      await expect(writeLayer(entries, 0, out)).rejects.toThrow(
        /now leads to ".*-beside\/f", outside the context/,
      );
    } finally {
      fs.rmSync(beside, { recursive: true, force: true });
    }
  });

  it('fails when another file is renamed over it', async () => {
    const { dir, entries, out } = await hashed();
    fs.writeFileSync(path.join(dir, 'other'), 'inside\n');
    fs.renameSync(path.join(dir, 'other'), path.join(dir, 'd/f'));
    await expect(writeLayer(entries, 0, out)).rejects.toThrow(/it was replaced by another file/);
  });
});
