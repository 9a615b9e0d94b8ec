/**
 * A tar writer for deterministic layers. It writes only what we decide:
 * ustar headers (POSIX.1-1988) with uid/gid 0, empty user and group names,
 * the mode and mtime the caller gives, and a PAX extended header only when a
 * value does not fit ustar (long or non-ASCII names, link targets, sizes of
 * 8 GiB and more). No atime, ctime or other host detail ever reaches a header,
 * so the same entries always give the same bytes.
 */

export const BLOCK = 512;

export type EntryType = 'file' | 'dir' | 'symlink' | 'link';

export interface TarHeaderFields {
  /** Path inside the image, relative, without a leading slash; directories without a trailing one. */
  path: string;
  type: EntryType;
  mode: number;
  size: number;
  mtime: number;
  /** Hard links: the image path of the entry they link to; symlinks: the target. */
  linkname?: string;
  /** 0 unless given: only directories taken from a base carry another owner. */
  uid?: number;
  gid?: number;
}

const TYPEFLAG: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', dir: '5' };
const MAX_OCTAL_11 = 0o77777777777; // 8 GiB - 1: the largest size an 11-digit octal field holds
const MAX_OCTAL_7 = 0o7777777; // the largest uid or gid an 8-byte field holds

function fitsUstar(s: string, max: number): boolean {
  // Printable ASCII only: anything else goes through PAX, which is UTF-8 by definition.
  return Buffer.byteLength(s) <= max && /^[\x20-\x7e]*$/.test(s);
}

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 digits, zero-padded, then NUL, as GNU tar and Go's archive/tar write them.
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function ustarHeader(f: TarHeaderFields, name: string, linkname: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, ownerField(f.uid));
  octal(h, 116, 8, ownerField(f.gid));
  octal(h, 124, 12, size);
  octal(h, 136, 12, f.mtime);
  h.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 8, 'ascii');
  // uname, gname: empty; devmajor, devminor: zero.
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

function ownerField(id: number | undefined): number {
  return id !== undefined && id <= MAX_OCTAL_7 ? id : 0;
}

/** One PAX record: "<length> <key>=<value>\n", where length counts itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  const digits = String(bodyLen).length;
  let len = bodyLen + digits;
  // Adding the length's own digits can add a digit (e.g. 98 + 2 = 100).
  if (String(len).length > digits) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The header block(s) of one entry: a PAX header first when needed, then ustar. */
export function tarHeader(f: TarHeaderFields): Buffer {
  const name = f.type === 'dir' ? `${f.path}/` : f.path;
  const linkname = f.linkname ?? '';
  const size = f.type === 'file' ? f.size : 0;
  const pax: string[] = [];
  if (!fitsUstar(name, 100)) pax.push(paxRecord('path', name));
  if (!fitsUstar(linkname, 100)) pax.push(paxRecord('linkpath', linkname));
  if (size > MAX_OCTAL_11) pax.push(paxRecord('size', String(size)));
  if ((f.uid ?? 0) > MAX_OCTAL_7) pax.push(paxRecord('uid', String(f.uid)));
  if ((f.gid ?? 0) > MAX_OCTAL_7) pax.push(paxRecord('gid', String(f.gid)));
  const main = ustarHeader(
    f,
    fitsUstar(name, 100) ? name : asciiStub(name),
    fitsUstar(linkname, 100) ? linkname : asciiStub(linkname),
    size > MAX_OCTAL_11 ? 0 : size,
    TYPEFLAG[f.type],
  );
  if (pax.length === 0) return main;
  const data = Buffer.from(pax.join(''), 'utf8');
  const paxHeader = ustarHeader(
    { path: '', type: 'file', mode: 0o644, size: data.length, mtime: f.mtime },
    asciiStub(`PaxHeaders/${name}`),
    '',
    data.length,
    'x',
  );
  return Buffer.concat([paxHeader, data, Buffer.alloc(padding(data.length)), main]);
}

/** A stand-in for the ustar name field when the real one is in the PAX header: deterministic, ASCII, ≤ 100 bytes. */
function asciiStub(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, 99);
}

/** Zeros that pad file data to a block boundary. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc(padding(size));
}

/** The end of an archive: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}
