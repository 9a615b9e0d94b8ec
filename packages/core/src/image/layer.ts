import { createHash, hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import type { ChecksumCache } from './checksum-cache.ts';
import type { LayerEntry } from './files.ts';
import { DeterministicGzip, type GzipResult } from './gzip.ts';
import { type HashedFile, type HashQueue, HashThreads } from './hash-pool.ts';
import { changed, openChecked } from './open-checked.ts';
import { tarEnd, tarHeader, tarPadding } from './tar.ts';

export interface LayerFile extends GzipResult {
  /** The compressed layer on disk, ready to upload. */
  path: string;
}

// Files up to this size are read whole; larger ones in chunks, never held in memory.
const READ_CHUNK = 1 << 20;

/**
 * Writes the entries as a gzipped tar to `file`, streaming: the diff ID and
 * the digest are computed while the bytes go by, and no more than a few
 * blocks are in memory at a time. `mtime` is the source-date-epoch (entries
 * taken from the base keep theirs). A file hashed before (describeEntries)
 * must give the same sha256 again, else the build fails: the inputs-digest
 * must describe the bytes in the layer.
 */
export async function writeLayer(
  entries: readonly LayerEntry[],
  mtime: number,
  file: string,
  opts: {
    /** Every compressed byte, in order, as it is made (see DeterministicGzip). */
    tee?: (bytes: Buffer) => Promise<void>;
    /** Bytes of file content read so far. */
    progress?: (done: number) => void;
  } = {},
): Promise<LayerFile> {
  const out = await fsp.open(file, 'w');
  const gz = new DeterministicGzip(out, opts.tee);
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    let read = 0;
    for (const e of entries) {
      await gz.write(tarHeader({ ...e, mtime: e.mtime ?? mtime }));
      if (e.type !== 'file') continue;
      await copyFile(e, gz, chunk);
      await gz.write(tarPadding(e.size));
      read += e.size;
      opts.progress?.(read);
    }
    await gz.write(tarEnd());
    return { ...(await gz.finish()), path: file };
  } finally {
    await gz.close();
    await out.close();
  }
}

async function copyFile(e: LayerEntry, gz: DeterministicGzip, chunk: Buffer): Promise<void> {
  const fd = openChecked(e);
  try {
    const h = e.sha256 === undefined ? undefined : createHash('sha256');
    let done = 0;
    while (done < e.size) {
      const n = fs.readSync(fd, chunk, 0, Math.min(READ_CHUNK, e.size - done), null);
      if (n === 0) break;
      h?.update(chunk.subarray(0, n));
      // The gzip writer copies what it keeps, so the chunk can be reused.
      await gz.write(chunk.subarray(0, n));
      done += n;
    }
    if (done !== e.size || fs.readSync(fd, chunk, 0, 1, null) !== 0) throw changed(e, 'its size changed');
    if (h && h.digest('hex') !== e.sha256) throw changed(e, 'its content differs from what was hashed');
  } finally {
    fs.closeSync(fd);
  }
}

export interface EntryDescription {
  path: string;
  type: LayerEntry['type'];
  mode: number;
  size?: number;
  sha256?: string;
  linkname?: string;
}

/**
 * Every entry with the sha256 of its content: what the inputs-digest is
 * computed from (see ContentHasher).
 */
export async function describeEntries(
  entries: LayerEntry[],
  opts: ContentHasherOptions = {},
): Promise<EntryDescription[]> {
  return new ContentHasher(opts).describe(entries);
}

export interface ContentHasherOptions {
  /** Bytes accounted for so far: hashed, or known from the checksum cache. */
  progress?: (done: number) => void;
  /** Hashing threads started earlier (and closed here). */
  threads?: HashThreads;
  /** Checksums of an earlier build on this machine; updated with this one's and saved by the caller. */
  checksums?: ChecksumCache;
}

/**
 * The sha256 of every file of a layer. Each file's hash is also kept on its
 * entry, for the layer writer to check. A file the checksum cache knows
 * unchanged is not read. Each file is opened here, through its checks, and
 * may be read by another thread. With threads given, every file goes through
 * their queue (see HashQueue); without: synchronous reads for a small context
 * (for thousands of small files they are several times faster than the
 * promise API), every core for a large one.
 *
 * (Hashing each file as soon as the walk found it was tried: no faster on two
 * cores, where the walk and the opens keep this thread as busy as the reads
 * and hashes keep the other.)
 */
class ContentHasher {
  private readonly queue: HashQueue<string> | undefined;
  /** Files by source path, as first seen; with the sha256 the checksum cache gave, if any. */
  private readonly files = new Map<string, { e: LayerEntry; cached?: string }>();
  private known = 0;
  private readonly chunk = Buffer.allocUnsafe(READ_CHUNK);
  private readonly hashedAt = Date.now();
  private readonly progress: ((hashed: number) => void) | undefined;

  constructor(private readonly opts: ContentHasherOptions = {}) {
    this.progress = opts.progress && ((hashed) => opts.progress!(this.known + hashed));
    this.queue = opts.threads?.queue((fd) => hashFd(fd, this.chunk), this.progress);
  }

  /** Takes a file (anything else is ignored); throws when it cannot be opened through its checks. */
  private add(e: LayerEntry): void {
    if (e.type !== 'file' || this.files.has(e.source!)) return;
    const cached = this.opts.checksums?.lookup(e);
    this.files.set(e.source!, { e, cached });
    if (cached !== undefined) this.known += e.size;
    else this.queue?.add(e.source!, () => openChecked(e));
  }

  /** After a failure: closes every file and thread. */
  private async abort(): Promise<void> {
    await this.queue?.abort();
    await this.opts.threads?.close();
  }

  async describe(entries: LayerEntry[]): Promise<EntryDescription[]> {
    let results: Map<string, HashedFile | Error>;
    try {
      for (const e of entries) this.add(e);
      results = this.queue ? await this.queue.finish() : await this.hashAll();
    } catch (err) {
      await this.abort();
      throw err;
    }
    // Not waited for: idle workers never keep the process alive, and one still starting takes 30 ms to stop.
    void this.opts.threads?.close();
    for (const e of entries) {
      if (e.type !== 'file') continue;
      const f = this.files.get(e.source!)!;
      const r = f.cached !== undefined ? { sha256: f.cached, size: e.size } : results.get(e.source!)!;
      if (r instanceof Error) throw changed(e, r.message);
      if (r.size !== e.size) throw changed(e, 'its size changed');
      e.sha256 = r.sha256;
      if (f.cached === undefined) this.opts.checksums?.remember(f.e, r.sha256, this.hashedAt);
    }
    return entries.map((e) =>
      e.type === 'dir'
        ? { path: e.path, type: e.type, mode: e.mode }
        : e.type !== 'file'
          ? { path: e.path, type: e.type, mode: e.mode, linkname: e.linkname! }
          : { path: e.path, type: e.type, mode: e.mode, size: e.size, sha256: e.sha256! },
    );
  }

  /** Without threads given: on this thread for a small context, on every core for a large one. */
  private async hashAll(): Promise<Map<string, HashedFile | Error>> {
    const todo = [...this.files.values()].filter((f) => f.cached === undefined).map((f) => f.e);
    const total = todo.reduce((n, e) => n + e.size, 0);
    if (this.known > 0) this.progress?.(0);
    const out = new Map<string, HashedFile | Error>();
    if (total < PARALLEL_HASH_FROM || os.availableParallelism() < 2) {
      let hashed = 0;
      for (const e of todo) {
        const fd = openChecked(e);
        try {
          out.set(e.source!, hashFd(fd, this.chunk));
        } finally {
          fs.closeSync(fd);
        }
        hashed += e.size;
        this.progress?.(hashed);
      }
      return out;
    }
    const pool = HashThreads.start();
    try {
      const r = await pool.hash(
        todo.length,
        (i) => openChecked(todo[i]!),
        (fd) => hashFd(fd, this.chunk),
        this.progress,
      );
      for (const [i, e] of todo.entries()) out.set(e.source!, r[i]!);
      return out;
    } finally {
      await pool.close();
    }
  }
}

/** Below this much content, starting worker threads costs more than hashing on one core. */
const PARALLEL_HASH_FROM = 32 * 1024 * 1024;

/**
 * sha256 (hex) and size of a file, read in chunks into `chunk` so no file is
 * ever held whole. Most files fit one read: the one-shot hash then skips
 * creating a Hash object per file.
 */
export function hashFile(
  file: string,
  chunk: Buffer = Buffer.allocUnsafe(READ_CHUNK),
): { sha256: string; size: number } {
  const fd = fs.openSync(file, 'r');
  try {
    return hashFd(fd, chunk);
  } finally {
    fs.closeSync(fd);
  }
}

function hashFd(fd: number, chunk: Buffer): { sha256: string; size: number } {
  let n = fs.readSync(fd, chunk, 0, chunk.length, null);
  if (n < chunk.length) return { sha256: hash('sha256', chunk.subarray(0, n), 'hex'), size: n };
  const h = createHash('sha256');
  let size = 0;
  while (n > 0) {
    h.update(chunk.subarray(0, n));
    size += n;
    n = fs.readSync(fd, chunk, 0, chunk.length, null);
  }
  return { sha256: h.digest('hex'), size };
}
