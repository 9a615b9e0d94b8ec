import { createHash, hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { UserError } from '../errors/index.ts';
import type { LayerEntry } from './files.ts';
import { DeterministicGzip, type GzipResult } from './gzip.ts';
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
 * blocks are in memory at a time. `mtime` is the source-date-epoch.
 */
export async function writeLayer(
  entries: readonly LayerEntry[],
  mtime: number,
  file: string,
): Promise<LayerFile> {
  const out = await fsp.open(file, 'w');
  try {
    const gz = new DeterministicGzip(out);
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    for (const e of entries) {
      await gz.write(tarHeader({ ...e, mtime }));
      if (e.type !== 'file') continue;
      await copyFile(e, gz, chunk);
      await gz.write(tarPadding(e.size));
    }
    await gz.write(tarEnd());
    return { ...(await gz.finish()), path: file };
  } finally {
    await out.close();
  }
}

async function copyFile(e: LayerEntry, gz: DeterministicGzip, chunk: Buffer): Promise<void> {
  const fd = fs.openSync(e.source!, 'r');
  try {
    let done = 0;
    while (done < e.size) {
      const n = fs.readSync(fd, chunk, 0, Math.min(READ_CHUNK, e.size - done), null);
      if (n === 0) break;
      // The gzip writer copies what it keeps, so the chunk can be reused.
      await gz.write(chunk.subarray(0, n));
      done += n;
    }
    if (done !== e.size || fs.readSync(fd, chunk, 0, 1, null) !== 0) throw changedWhileBuilding(e);
  } finally {
    fs.closeSync(fd);
  }
}

function changedWhileBuilding(e: LayerEntry): UserError {
  return new UserError(
    `"${e.source}" changed size while the image was being built`,
    'Do not write to the context during the build',
  );
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
 * computed from. Synchronous reads: for thousands of small files they are
 * several times faster than the promise API, and nothing else runs meanwhile.
 */
export function describeEntries(entries: readonly LayerEntry[]): EntryDescription[] {
  const chunk = Buffer.allocUnsafe(READ_CHUNK);
  return entries.map((e) => {
    if (e.type === 'dir') return { path: e.path, type: e.type, mode: e.mode };
    if (e.type === 'symlink') return { path: e.path, type: e.type, mode: e.mode, linkname: e.linkname! };
    const { sha256, size } = hashFile(e.source!, chunk);
    if (size !== e.size) throw changedWhileBuilding(e);
    return { path: e.path, type: e.type, mode: e.mode, size: e.size, sha256 };
  });
}

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
  } finally {
    fs.closeSync(fd);
  }
}
