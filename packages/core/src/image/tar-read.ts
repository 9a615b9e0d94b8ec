import { BLOCK } from './tar.ts';

/**
 * A reader of the tar headers of a base layer: just what is needed to know
 * which paths the base has and what they are (type, mode, owner, mtime, link
 * target). It reads ustar, PAX (path, linkpath, size, uid, gid, mtime) and
 * GNU long names, as docker, buildkit and Go's archive/tar write them.
 */
export interface TarEntry {
  /** Relative, without a leading `./` or `/`, without a trailing slash. */
  path: string;
  /** The tar typeflag: '0' file, '1' hard link, '2' symlink, '5' directory, … */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
}

function cString(buf: Buffer, start: number, length: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 || end > start + length ? start + length : end);
}

function numeric(buf: Buffer, start: number, length: number): number {
  // GNU base-256: the high bit of the first byte set, big-endian binary after it.
  if (buf[start]! & 0x80) {
    let v = buf[start]! & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + buf[start + i]!;
    return v;
  }
  const s = buf
    .toString('ascii', start, start + length)
    .replace(/[\0 ]+$/g, '')
    .trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number.parseInt(data.toString('ascii', at, space), 10);
    if (!(len > 0)) break;
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

export function normalizeTarPath(p: string): string {
  return p
    .replace(/^(\.\/|\/)+/, '')
    .replace(/\/+$/, '')
    .replace(/^\.$/, '');
}

/**
 * The entries of an uncompressed tar stream, fed in chunks of any size: file
 * content is skipped as it passes, so a layer of any size needs only a block
 * or two in memory (and the PAX or long-name records, which are small).
 */
export class TarHeaderReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of entry data (and padding) still to pass over. */
  private skip = 0;
  /** A metadata record being read: its kind and the bytes still to come. */
  private record?: { type: string; size: number; padded: number; parts: Buffer[]; got: number };
  private pax: Record<string, string> = {};
  private longName?: string;
  private longLink?: string;
  private ended = false;

  constructor(private readonly onEntry: (e: TarEntry) => void) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      if (this.record) {
        const r = this.record;
        const n = Math.min(r.padded - r.got, chunk.length - at);
        r.parts.push(chunk.subarray(at, at + n));
        r.got += n;
        at += n;
        if (r.got === r.padded) {
          this.record = undefined;
          this.takeRecord(r.type, Buffer.concat(r.parts).subarray(0, r.size));
        }
        continue;
      }
      const need = BLOCK - this.pending.length;
      const n = Math.min(need, chunk.length - at);
      this.pending = Buffer.concat([this.pending, chunk.subarray(at, at + n)]);
      at += n;
      if (this.pending.length === BLOCK) {
        const h = this.pending;
        this.pending = Buffer.alloc(0);
        this.header(h);
      }
    }
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]!);
    const meta = type === 'x' || type === 'L' || type === 'K';
    // A PAX size belongs to the entry after the record, never to another record.
    const size = !meta && this.pax['size'] !== undefined ? Number(this.pax['size']) : numeric(h, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (meta) {
      this.record = { type, size, padded, parts: [], got: 0 };
      if (padded === 0) {
        this.record = undefined;
        this.takeRecord(type, Buffer.alloc(0));
      }
      return;
    }
    this.skip = padded;
    if (type === 'g') return;
    const prefix = h.toString('ascii', 257, 262) === 'ustar' ? cString(h, 345, 155) : '';
    const name = cString(h, 0, 100);
    const pax = this.pax;
    this.onEntry({
      path: normalizeTarPath(pax['path'] ?? this.longName ?? (prefix ? `${prefix}/${name}` : name)),
      type,
      mode: numeric(h, 100, 8) & 0o7777,
      uid: pax['uid'] !== undefined ? Number(pax['uid']) : numeric(h, 108, 8),
      gid: pax['gid'] !== undefined ? Number(pax['gid']) : numeric(h, 116, 8),
      mtime: Math.floor(pax['mtime'] !== undefined ? Number(pax['mtime']) : numeric(h, 136, 12)),
      linkname: pax['linkpath'] ?? this.longLink ?? cString(h, 157, 100),
    });
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
  }

  private takeRecord(type: string, data: Buffer): void {
    if (type === 'x') this.pax = { ...this.pax, ...parsePax(data) };
    else if (type === 'L') this.longName = cString(data, 0, data.length);
    else this.longLink = cString(data, 0, data.length);
  }
}

/** Every entry of an uncompressed tar held in memory, in order. */
export function readTar(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  new TarHeaderReader((e) => out.push(e)).push(tar);
  return out;
}
