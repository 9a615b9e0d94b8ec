import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  collectEntries,
  describeEntries,
  HashThreads,
  parseFileMappings,
  resolveContext,
} from '@anew/core/image';
import { afterAll, describe, expect, it } from 'vitest';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-hash-threads-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// Many small files and a few larger than one read, so that every thread takes some.
const files = Array.from({ length: 400 }, (_, i) => {
  const file = path.join(dir, `f${i}`);
  fs.writeFileSync(file, crypto.randomBytes(i % 50 === 0 ? (3 << 20) + i : 1 + ((i * 7919) % 20000)));
  return file;
});
const expected = files.map((f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex'));

const openFds = () => fs.readdirSync('/proc/self/fd').length;
const hashHere = (fd: number) => {
  const data = fs.readFileSync(fd);
  return { sha256: crypto.createHash('sha256').update(data).digest('hex'), size: data.length };
};

describe('HashThreads', () => {
  it('hashes every file on every thread, each result in its place, and closes every descriptor', async () => {
    const before = openFds();
    const threads = HashThreads.start(2);
    try {
      const r = await threads.hash(files.length, (i) => fs.openSync(files[i]!, 'r'), hashHere);
      expect(r.map((x) => (x instanceof Error ? x.message : x.sha256))).toEqual(expected);
      expect(r.map((x) => (x instanceof Error ? -1 : x.size))).toEqual(files.map((f) => fs.statSync(f).size));
    } finally {
      await threads.close();
    }
    expect(openFds()).toBe(before);
  });

  it('goes on past one batch of shared memory (4096 files), every result in its place', async () => {
    const before = openFds();
    const threads = HashThreads.start(1);
    try {
      const n = 9000;
      const r = await threads.hash(n, (i) => fs.openSync(files[i % files.length]!, 'r'), hashHere);
      expect(r.map((x) => (x instanceof Error ? x.message : x.sha256))).toEqual(
        Array.from({ length: n }, (_, i) => expected[i % files.length]),
      );
    } finally {
      await threads.close();
    }
    expect(openFds()).toBe(before);
  });

  it('stops at a file that cannot be opened, closes what it opened, and leaves the threads usable', async () => {
    // Counted before the threads start and after they stop: a thread has descriptors of its own.
    const before = openFds();
    const threads = HashThreads.start(1);
    try {
      await expect(
        threads.hash(
          files.length,
          (i) => {
            if (i === 250) throw new Error('refused by its checks');
            return fs.openSync(files[i]!, 'r');
          },
          hashHere,
        ),
      ).rejects.toThrow('refused by its checks');
      const again = await threads.hash(3, (i) => fs.openSync(files[i]!, 'r'), hashHere);
      expect(again.map((x) => (x instanceof Error ? x.message : x.sha256))).toEqual(expected.slice(0, 3));
    } finally {
      await threads.close();
    }
    expect(openFds()).toBe(before);
  });

  it('names a file a worker could not read instead of returning a digest for it', async () => {
    const threads = HashThreads.start(1);
    try {
      // A directory opens but cannot be read: whichever thread takes it fails on it.
      const r = await threads
        .hash(
          200,
          (i) => fs.openSync(i % 2 ? dir : files[i]!, 'r'),
          (fd) => {
            try {
              return hashHere(fd);
            } catch {
              throw new Error('main thread could not read it');
            }
          },
        )
        .catch((e: Error) => e);
      // The main thread throws on its own unreadable file; a worker marks its own as an Error.
      if (r instanceof Error) expect(r.message).toBe('main thread could not read it');
      else {
        expect(r.filter((x) => x instanceof Error).length).toBeGreaterThan(0);
        for (const [i, x] of r.entries()) if (i % 2) expect(x).toBeInstanceOf(Error);
      }
    } finally {
      await threads.close();
    }
  });
});

describe('describeEntries on threads started earlier', () => {
  it('gives what one thread gives, and after a file that fails its checks closes every file and thread', async () => {
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-hasher-'));
    try {
      for (let i = 0; i < 300; i++) {
        fs.mkdirSync(path.join(ctx, 'a', `d${i % 7}`), { recursive: true });
        fs.writeFileSync(path.join(ctx, 'a', `d${i % 7}`, `f${i}`), crypto.randomBytes(100 + i));
      }
      const root = resolveContext(ctx);
      const walk = () => collectEntries(root, parseFileMappings(['a/:/a/']));
      const threads = HashThreads.start(1);
      expect(await describeEntries(walk(), { threads })).toEqual(await describeEntries(walk()));
      // describeEntries does not wait for the threads to stop; this test counts descriptors, so it does.
      await threads.close();

      const before = openFds();
      const entries = walk();
      // Swapped for a symlink after the walk: its open is refused, half-way through the files.
      const victim = entries.filter((e) => e.type === 'file')[150]!.source!;
      fs.rmSync(victim);
      fs.symlinkSync('/etc/hostname', victim);
      await expect(describeEntries(entries, { threads: HashThreads.start(1) })).rejects.toThrow(
        /it is now a symlink/,
      );
      expect(openFds()).toBe(before);
    } finally {
      fs.rmSync(ctx, { recursive: true, force: true });
    }
  });
});
