import { createHash, hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import type { ChecksumCache } from './checksum-cache.ts';
import type { LayerEntry } from './files.ts';
import { DeterministicGzip, type GzipResult } from './gzip.ts';
import { type HashedFile, HashThreads } from './hash-pool.ts';
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
  try {
    const gz = new DeterministicGzip(out, opts.tee);
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
 * computed from. Each file's hash is also kept on its entry, for the layer
 * writer to check. A file the checksum cache knows unchanged is not read.
 * Synchronous reads for a small context: for thousands of small files they
 * are several times faster than the promise API. A large one is hashed on
 * every core (see HashThreads): each file is still opened here, through its
 * checks, and only read by another thread.
 */
export async function describeEntries(
  entries: LayerEntry[],
  opts: {
    /** Bytes accounted for so far: hashed, or known from the checksum cache. */
    progress?: (done: number) => void;
    /** Hashing threads started earlier (and closed here); else started here when the context is large. */
    threads?: HashThreads;
    /** Checksums of an earlier build on this machine; updated with this one's and saved by the caller. */
    checksums?: ChecksumCache;
  } = {},
): Promise<EntryDescription[]> {
  const { threads, checksums } = opts;
  let known = 0;
  const files = entries.filter((e) => {
    if (e.type !== 'file') return false;
    e.sha256 = checksums?.lookup(e);
    if (e.sha256 !== undefined) known += e.size;
    return e.sha256 === undefined;
  });
  const progress = opts.progress && ((hashed: number) => opts.progress!(known + hashed));
  if (known > 0) progress?.(0);
  const total = files.reduce((n, e) => n + e.size, 0);
  const hashedAt = Date.now();
  const record = (e: LayerEntry, r: { sha256: string; size: number }) => {
    if (r.size !== e.size) throw changed(e, 'its size changed');
    e.sha256 = r.sha256;
    checksums?.remember(e, r.sha256, hashedAt);
  };
  const chunk = Buffer.allocUnsafe(READ_CHUNK);
  if (total < PARALLEL_HASH_FROM || os.availableParallelism() < 2) {
    await threads?.close();
    let hashed = 0;
    for (const e of files) {
      const fd = openChecked(e);
      try {
        record(e, hashFd(fd, chunk));
      } finally {
        fs.closeSync(fd);
      }
      hashed += e.size;
      progress?.(hashed);
    }
  } else {
    const pool = threads ?? HashThreads.start();
    let results: (HashedFile | Error)[];
    try {
      results = await pool.hash(
        files.length,
        (i) => openChecked(files[i]!),
        (fd) => hashFd(fd, chunk),
        progress,
      );
    } finally {
      await pool.close();
    }
    for (const [i, r] of results.entries()) {
      if (r instanceof Error) throw changed(files[i]!, r.message);
      record(files[i]!, r);
    }
  }
  return entries.map((e) =>
    e.type === 'dir'
      ? { path: e.path, type: e.type, mode: e.mode }
      : e.type !== 'file'
        ? { path: e.path, type: e.type, mode: e.mode, linkname: e.linkname! }
        : { path: e.path, type: e.type, mode: e.mode, size: e.size, sha256: e.sha256! },
  );
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
