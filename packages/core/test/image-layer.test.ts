import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  BLOCK_SIZE,
  collectEntries,
  describeEntries,
  parseFileMappings,
  resolveContext,
  tarHeader,
  writeLayer,
} from '@anew/core/image';
import { afterEach, describe, expect, it } from 'vitest';

const tmps: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-image-test-'));
  tmps.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A small context: nested dirs, an executable, a relative symlink, a long non-ASCII name. */
function makeContext(dir: string, opts: { mtime: number; umask: number }): void {
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
    fs.chmodSync(path.join(dir, rel), mode & ~opts.umask);
  };
  w('site/index.html', '<h1>hello</h1>\n');
  w('site/css/app.css', 'body{}\n', 0o600);
  w(`site/${'deep/'.repeat(25)}é-long-name.txt`, 'deep\n');
  w('bin/server', '#!/bin/sh\necho hi\n', 0o700);
  w('big.bin', Buffer.alloc(BLOCK_SIZE * 2 + 12345, 7));
  fs.symlinkSync('index.html', path.join(dir, 'site/home.html'));
  for (const f of fs.readdirSync(dir, { recursive: true }))
    fs.lutimesSync(path.join(dir, String(f)), opts.mtime, opts.mtime);
}

const LINES = ['site/:/www/', 'bin/server:/usr/local/bin/', 'big.bin:/data/big.bin'];

async function layerOf(dir: string, epoch = 1700000000) {
  const root = resolveContext(dir);
  const entries = collectEntries(root, parseFileMappings(LINES));
  const out = path.join(tmp(), 'layer.tar.gz');
  return { entries, layer: await writeLayer(entries, epoch, out) };
}

describe('deterministic layers', () => {
  it('give the same bytes from copies with other mtimes and permissions', async () => {
    const a = tmp();
    const b = tmp();
    makeContext(a, { mtime: 1000, umask: 0o022 });
    makeContext(b, { mtime: 2_000_000_000, umask: 0o077 });
    const la = await layerOf(a);
    const lb = await layerOf(b);
    expect(la.layer.digest).toBe(lb.layer.digest);
    expect(la.layer.diffId).toBe(lb.layer.diffId);
    expect(fs.readFileSync(la.layer.path).equals(fs.readFileSync(lb.layer.path))).toBe(true);
    // The epoch is part of the bytes.
    expect((await layerOf(a, 0)).layer.digest).not.toBe(la.layer.digest);
  });

  it('is a gzip without name or timestamp that GNU tar lists with normalized fields', async () => {
    const dir = tmp();
    makeContext(dir, { mtime: 1000, umask: 0o022 });
    const { layer } = await layerOf(dir);
    const gz = fs.readFileSync(layer.path);
    // magic, deflate, no flags (no name, no comment), mtime 0.
    expect(gz.subarray(0, 8).toString('hex')).toBe('1f8b080000000000');
    const raw = zlib.gunzipSync(gz);
    expect(raw.length).toBe(layer.uncompressedSize);
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', layer.path], {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'UTC' },
    })
      .trim()
      .split('\n');
    const names = listing.map((l) => l.split(/\s+/).slice(5).join(' '));
    expect(names).toEqual([
      'data/',
      'data/big.bin',
      'usr/',
      'usr/local/',
      'usr/local/bin/',
      'usr/local/bin/server',
      'www/',
      'www/css/',
      'www/css/app.css',
      'www/deep/',
      ...Array.from({ length: 25 }, (_, i) => `www/${'deep/'.repeat(i + 1)}`).slice(1),
      `www/${'deep/'.repeat(25)}é-long-name.txt`,
      'www/home.html -> index.html',
      'www/index.html',
    ]);
    for (const l of listing) {
      const [mode, owner, , date, time] = l.split(/\s+/);
      expect(owner).toBe('0/0');
      expect(`${date} ${time}`).toBe('2023-11-14 22:13:20');
      expect(['drwxr-xr-x', '-rw-r--r--', '-rwxr-xr-x', 'lrwxrwxrwx']).toContain(mode);
    }
    expect(listing.find((l) => l.endsWith('usr/local/bin/server'))).toMatch(/^-rwxr-xr-x/);
    expect(listing.find((l) => l.endsWith('www/css/app.css'))).toMatch(/^-rw-r--r--/);
    // Extracts to the same content.
    const out = tmp();
    execFileSync('tar', ['-xzf', layer.path, '-C', out]);
    expect(
      fs.readFileSync(path.join(out, 'data/big.bin')).equals(fs.readFileSync(path.join(dir, 'big.bin'))),
    ).toBe(true);
    expect(fs.readlinkSync(path.join(out, 'www/home.html'))).toBe('index.html');
  });

  it('describes every entry with its content hash, so any change to a file changes the description', async () => {
    const dir = tmp();
    makeContext(dir, { mtime: 1000, umask: 0o022 });
    const { entries } = await layerOf(dir);
    const before = JSON.stringify(await describeEntries(entries));
    fs.writeFileSync(path.join(dir, 'site/index.html'), '<h1>hello!</h1>\n');
    const after = JSON.stringify(await describeEntries(collectEntries(dir, parseFileMappings(LINES))));
    expect(after).not.toBe(before);
    fs.chmodSync(path.join(dir, 'site/index.html'), 0o755);
    expect(JSON.stringify(await describeEntries(collectEntries(dir, parseFileMappings(LINES))))).not.toBe(
      after,
    );
  });
});

describe('tar headers', () => {
  it('use ustar for short ASCII names and a PAX record otherwise', () => {
    const short = tarHeader({ path: 'a/b', type: 'file', mode: 0o644, size: 3, mtime: 0 });
    expect(short.length).toBe(512);
    expect(short.subarray(257, 263).toString()).toBe('ustar\0');
    const long = tarHeader({ path: `${'x'.repeat(120)}`, type: 'file', mode: 0o644, size: 3, mtime: 0 });
    expect(long.length).toBe(512 * 3);
    expect(String.fromCharCode(long[156]!)).toBe('x');
    expect(long.subarray(512, 1024).toString()).toContain(`path=${'x'.repeat(120)}\n`);
  });

  it('put long link targets and sizes of 8 GiB and more in PAX records, with lengths that count themselves', () => {
    const link = tarHeader({
      path: 'l',
      type: 'symlink',
      mode: 0o777,
      size: 0,
      mtime: 0,
      linkname: 'y'.repeat(101),
    });
    expect(link.subarray(512, 1024).toString()).toContain(`115 linkpath=${'y'.repeat(101)}\n`);
    const big = tarHeader({ path: 'big', type: 'file', mode: 0o644, size: 2 ** 33, mtime: 0 });
    expect(big.subarray(512, 1024).toString()).toContain('19 size=8589934592\n');
    // A record whose length gains a digit from its own: 98 bytes of body and 2 digits make 100, so 101.
    const edge = tarHeader({ path: `é${'z'.repeat(89)}`, type: 'file', mode: 0o644, size: 0, mtime: 0 });
    const record = edge.subarray(512, 1024).toString().replace(/\0+$/, '');
    expect(record.startsWith('101 path=é')).toBe(true);
    expect(Buffer.byteLength(record)).toBe(101);
  });
});

/** Deterministic random-looking bytes: xorshift32, a byte of each step. */
function xorshift(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Runs of random-looking and of text-like bytes, of uneven lengths, not aligned to anything. */
function mixed(size: number): Buffer {
  const random = xorshift(size, 2463534242);
  const text = Buffer.alloc(size, 'const image = await layer.digest(); deploy(router, image);\n');
  const out = Buffer.alloc(size);
  for (let at = 0, k = 0; at < size; k++) {
    const n = Math.min(size - at, 700 + ((k * 7919) % 9000));
    (k % 2 ? random : text).copy(out, at, at, at + n);
    at += n;
  }
  return out;
}

describe('parallel gzip', () => {
  it.each([
    ['nothing', 0, 'counting'],
    ['one byte', 1, 'counting'],
    ['exactly one block', BLOCK_SIZE, 'counting'],
    ['three blocks and a bit', BLOCK_SIZE * 3 + 7, 'counting'],
    // Enough blocks for the worker threads, and pages they store as well as pages they deflate.
    ['six blocks of mixed random and text', BLOCK_SIZE * 6 + 4321, 'mixed'],
    ['five blocks of random bytes', BLOCK_SIZE * 5 + 99, 'random'],
  ])(
    '%s: one gzip member that gzip itself accepts, with the right CRC and length',
    async (_name, size, kind) => {
      const { DeterministicGzip } = await import('@anew/core/image');
      let data: Buffer = Buffer.alloc(size);
      if (kind === 'counting') for (let i = 0; i < size; i++) data[i] = (i * 7919) % 251;
      if (kind === 'mixed') data = mixed(size);
      if (kind === 'random') data = xorshift(size, 88172645);
      const file = path.join(tmp(), 'x.gz');
      const fh = await fs.promises.open(file, 'w');
      const gz = new DeterministicGzip(fh);
      // Uneven writes: the cut points depend on offsets, not on how the bytes arrive.
      for (let off = 0; off < size; off += 300_001) await gz.write(data.subarray(off, off + 300_001));
      const r = await gz.finish();
      await fh.close();
      const bytes = fs.readFileSync(file);
      expect(r.size).toBe(bytes.length);
      expect(zlib.gunzipSync(bytes).equals(data)).toBe(true);
      execFileSync('gzip', ['-t', file]);
      // Same as one whole write.
      const file2 = path.join(tmp(), 'y.gz');
      const fh2 = await fs.promises.open(file2, 'w');
      const gz2 = new DeterministicGzip(fh2);
      await gz2.write(data);
      expect((await gz2.finish()).digest).toBe(r.digest);
      await fh2.close();
      if (kind === 'random') {
        // Stored, not deflated: the bytes, 5 more per stored block of 64 KiB, a little more where a
        // page happens to look less random than most (deflate at level 1 makes such bytes 0.5% larger).
        expect(r.size).toBeGreaterThanOrEqual(size);
        expect(r.size).toBeLessThan(size * 1.0002 + 100);
      }
    },
  );

  it('the worker threads write what this thread writes for each block', async () => {
    const { DeterministicGzip, compressBlock, GZIP_LEVEL } = await import('@anew/core/image');
    const data = mixed(BLOCK_SIZE * 7 + 1000);
    const file = path.join(tmp(), 'w.gz');
    const fh = await fs.promises.open(file, 'w');
    const gz = new DeterministicGzip(fh);
    await gz.write(data);
    await gz.finish();
    await fh.close();
    const blocks: Buffer[] = [];
    for (let at = 0; at < data.length; at += BLOCK_SIZE) {
      const end = Math.min(at + BLOCK_SIZE, data.length);
      blocks.push(compressBlock(zlib, data.subarray(at, end), end === data.length, GZIP_LEVEL));
    }
    const written = fs.readFileSync(file);
    expect(written.subarray(10, written.length - 8).equals(Buffer.concat(blocks))).toBe(true);
  });

  it('stores runs of random-looking pages and deflates text, and short random runs with it', async () => {
    const { compressBlock, GZIP_LEVEL } = await import('@anew/core/image');
    const random = xorshift(64 << 10, 1234567);
    const text = Buffer.alloc(64 << 10, 'the layer digest of the image the router deploys ');
    const stored = compressBlock(zlib, random, true, GZIP_LEVEL);
    expect(stored.length).toBe(random.length + 5 + 5 + 5); // two stored blocks, and the final empty one
    expect(zlib.inflateRawSync(stored).equals(random)).toBe(true);
    // Text deflates to a few per cent; so does a block of text with 2 KiB of random bytes inside,
    // too short to be stored apart (it costs about its own size, not a cut stream).
    expect(compressBlock(zlib, text, true, GZIP_LEVEL).length).toBeLessThan(text.length / 20);
    const sprinkled = Buffer.concat([
      text.subarray(0, 30000),
      random.subarray(0, 2048),
      text.subarray(30000),
    ]);
    const out = compressBlock(zlib, sprinkled, true, GZIP_LEVEL);
    expect(zlib.inflateRawSync(out).equals(sprinkled)).toBe(true);
    expect(out.length).toBeLessThan(2048 + text.length / 20);
  });
});
