import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ChecksumCache,
  collectEntries,
  describeEntries,
  parseFileMappings,
  resolveContext,
} from '@anew/core/image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The cache remembers only files whose last change is 2 s old: the context is made once, then aged.
const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-checksums-ctx-'));
const caches: string[] = [];
const cacheDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-checksums-'));
  caches.push(d);
  return d;
};
const FILES = ['a.txt', 'b.txt', 'sub/c.bin', 'sub/d.bin'];
beforeAll(async () => {
  for (const [i, f] of FILES.entries()) {
    fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
    fs.writeFileSync(path.join(ctx, f), `content of ${f} `.repeat(100 + i));
    // Whole seconds, so that a test can put the very same mtime back.
    fs.utimesSync(path.join(ctx, f), 1_700_000_000, 1_700_000_000);
  }
  await new Promise((r) => setTimeout(r, 2100));
}, 10_000);
afterAll(() => {
  for (const d of [ctx, ...caches]) fs.rmSync(d, { recursive: true, force: true });
});

const root = () => resolveContext(ctx);
const entries = () => collectEntries(root(), parseFileMappings(['./:/app/']));
async function describeWith(dir: string) {
  const checksums = ChecksumCache.load(dir, root());
  const files = await describeEntries(entries(), { checksums });
  checksums.save(root());
  return { files, hits: checksums.hits };
}

describe('the checksum cache', () => {
  it('gives the same description without hashing a file that has not changed', async () => {
    const dir = cacheDir();
    const first = await describeWith(dir);
    expect(first.hits).toBe(0);
    const second = await describeWith(dir);
    expect(second.hits).toBe(FILES.length);
    expect(second.files).toEqual(first.files);
    expect(first.files).toEqual(await describeEntries(entries()));
  });

  it('does not remember a file changed in the last 2 s (a later change in the same clock tick would look the same)', async () => {
    const dir = cacheDir();
    const file = path.join(ctx, 'fresh.txt');
    fs.writeFileSync(file, 'just written');
    try {
      await describeWith(dir);
      const second = await describeWith(dir);
      expect(second.hits).toBe(FILES.length);
    } finally {
      fs.rmSync(file);
    }
  });

  it('ignores a cache file others can write, and one that is not JSON', async () => {
    const dir = cacheDir();
    await describeWith(dir);
    const [file] = fs.readdirSync(dir).map((f) => path.join(dir, f));
    fs.chmodSync(file!, 0o666);
    expect((await describeWith(dir)).hits).toBe(0);
    fs.writeFileSync(file!, '{not json', { mode: 0o600 });
    fs.chmodSync(file!, 0o600);
    expect((await describeWith(dir)).hits).toBe(0);
    // The run above wrote a good one again.
    expect((await describeWith(dir)).hits).toBe(FILES.length);
    expect(fs.statSync(file!).mode & 0o777).toBe(0o600);
  });

  it('keeps the 32 contexts built last', () => {
    const dir = cacheDir();
    for (let i = 0; i < 40; i++) {
      const c = ChecksumCache.load(dir, `/some/context/${i}`);
      c.remember(
        { path: 'f', type: 'file', mode: 0o644, size: 1, dev: 1, ino: i, mtimeMs: 1, ctimeMs: 1 },
        'a'.repeat(64),
        Date.now(),
      );
      c.save(`/some/context/${i}`);
    }
    expect(fs.readdirSync(dir).length).toBe(32);
  });
  // Last: the file it rewrites is fresh afterwards, so no longer remembered.
  it('hashes again a file rewritten with the same size and its old mtime put back (ctime moved)', async () => {
    const dir = cacheDir();
    const before = await describeWith(dir);
    const file = path.join(ctx, 'b.txt');
    const st = fs.statSync(file);
    const old = fs.readFileSync(file);
    try {
      fs.writeFileSync(file, Buffer.from(old.toString().toUpperCase()));
      fs.utimesSync(file, 1_700_000_000, 1_700_000_000);
      expect(fs.statSync(file).size).toBe(st.size);
      expect(fs.statSync(file).mtimeMs).toBe(st.mtimeMs);
      const after = await describeWith(dir);
      expect(after.hits).toBe(FILES.length - 1);
      const sha = (d: typeof before) => d.files.find((f) => f.path === 'app/b.txt')!.sha256;
      expect(sha(after)).not.toBe(sha(before));
      expect(after.files).toEqual(await describeEntries(entries()));
    } finally {
      fs.writeFileSync(file, old);
    }
  });
});
