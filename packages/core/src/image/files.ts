import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors/index.ts';
import type { EntryType } from './tar.ts';

/**
 * What goes into the layer: `files` lines (`SOURCE:DESTINATION`) resolved
 * inside the context, directories walked, and every path checked so that
 * nothing outside the context can be read, also not through a symlink.
 */

export interface FileMapping {
  source: string;
  destination: string;
  /** The line as given, for messages. */
  line: string;
}

export interface LayerEntry {
  /** Path inside the image, relative (no leading slash), directories without a trailing one. */
  path: string;
  type: EntryType;
  /** Normalized: 0755 for directories and executables, 0644 for other files, 0777 for symlinks. */
  mode: number;
  size: number;
  /** Absolute path of the file to read (files only). */
  source?: string;
  /** The context root the file's real path must stay inside when it is opened (files only). */
  context?: string;
  /** Device and inode seen when the context was walked: the handle opened later must be this file. */
  dev?: number;
  ino?: number;
  /** Last modification and last change seen then (files only): what the checksum cache compares. */
  mtimeMs?: number;
  ctimeMs?: number;
  /** sha256 (hex) of the content, once hashed: the layer writer checks it reads the same bytes. */
  sha256?: string;
  /** Symlinks: the target as written in the context; hard links: the image path of the entry they link to. */
  linkname?: string;
  /** Owner and mtime: only for directories taken from the base as they are there (else root and the epoch). */
  uid?: number;
  gid?: number;
  mtime?: number;
}

export function parseFileMappings(lines: readonly string[], what = 'input "files"'): FileMapping[] {
  return lines.map((line) => {
    // Destinations are absolute, so ":/" ends the source, which may itself hold a colon.
    const at = line.indexOf(':/');
    const colon = at >= 0 ? at : line.indexOf(':');
    const source = colon < 0 ? '' : line.slice(0, colon).trim();
    const destination = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (!source || !destination)
      throw new UserError(
        `${what} has "${line}", not SOURCE:DESTINATION`,
        'Give one SOURCE:DESTINATION per line, e.g. site/:/www/ or bin/server:/server',
      );
    if (path.isAbsolute(source))
      throw new UserError(
        `${what} has the absolute source "${source}"`,
        'Sources are relative to the context; only files inside it can go into the image',
      );
    if (!destination.startsWith('/'))
      throw new UserError(
        `${what} has the destination "${destination}", which is not absolute`,
        `Write it from the image root, e.g. /${destination}`,
      );
    return { source, destination, line };
  });
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Normalizes an image path: no leading or trailing slash, no `.` or `..`, `` for the root. */
function imagePath(p: string): string {
  return path.posix.normalize(`/${p}`).replace(/^\/+|\/+$/g, '');
}

/** The context directory, resolved; a clear error when it does not exist. */
export function resolveContext(context: string): string {
  let real: string;
  try {
    real = fs.realpathSync(context);
  } catch {
    throw new UserError(
      `the context "${context}" does not exist`,
      'Check out the code first (actions/checkout) or set "context" to the directory with your files',
    );
  }
  if (!fs.statSync(real).isDirectory())
    throw new UserError(`the context "${context}" is not a directory`, 'Set "context" to a directory');
  return real;
}

/**
 * Walks every mapping and returns the layer's entries sorted by path, with
 * every parent directory present. `root` must come from resolveContext.
 */
export function collectEntries(root: string, mappings: readonly FileMapping[]): LayerEntry[] {
  const entries = new Map<string, LayerEntry & { from: string }>();
  const add = (e: LayerEntry, from: string) => {
    if (e.path === '') return;
    refuseWhiteout(e.path, from);
    const prev = entries.get(e.path);
    if (prev) {
      if (prev.type === 'dir' && e.type === 'dir') return;
      throw new UserError(
        `"/${e.path}" is written twice in input "files" (by "${prev.from}" and "${from}")`,
        'Give each destination once',
      );
    }
    entries.set(e.path, { ...e, from });
  };
  const addParents = (p: string, from: string) => {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++)
      add({ path: parts.slice(0, i).join('/'), type: 'dir', mode: 0o755, size: 0 }, from);
  };

  for (const m of mappings) {
    const abs = path.resolve(root, m.source);
    if (!isInside(root, abs))
      throw new UserError(
        `the source "${m.source}" in input "files" is outside the context`,
        'Only files inside the context can go into the image',
      );
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch {
      throw new UserError(
        `the source "${m.source}" in input "files" does not exist in the context "${root}"`,
        'Check the path; sources are relative to the context',
      );
    }
    if (!isInside(root, real))
      throw new UserError(
        `the source "${m.source}" in input "files" is a symlink to "${real}", outside the context`,
        'Only files inside the context can go into the image',
      );
    const st = fs.lstatSync(real);
    const dest = imagePath(m.destination);
    if (st.isDirectory()) {
      // Like COPY: the directory's contents go into the destination directory.
      addParents(dest, m.line);
      add({ path: dest, type: 'dir', mode: 0o755, size: 0 }, m.line);
      walk(root, real, dest, (e) => add(e, m.line));
    } else if (st.isFile()) {
      const target = m.destination.endsWith('/') ? imagePath(`${dest}/${path.basename(abs)}`) : dest;
      if (target === '')
        throw new UserError(`the destination of "${m.line}" in input "files" is the root`, 'Name a file');
      addParents(target, m.line);
      add(fileEntry(target, real, st, root), m.line);
    } else {
      throw new UserError(
        `the source "${m.source}" in input "files" is neither a file nor a directory`,
        'Only files, directories and symlinks can go into the image',
      );
    }
  }
  return linkHardLinks(sortEntries([...entries.values()])).map(({ from: _from, ...e }) => e);
}

/** Byte order of the UTF-8 paths, as tar readers and other builders sort; keys computed once. */
export function sortEntries<T extends LayerEntry>(entries: T[]): T[] {
  const keyed = entries.map((e) => ({ e, key: Buffer.from(e.path) }));
  return keyed.sort((a, b) => Buffer.compare(a.key, b.key)).map((k) => k.e);
}

/**
 * Hard links of the context (two names of one file) that one `files` line
 * copies go in once: the first in path order holds the content, the others
 * are tar hard links to it, as docker and buildkit write them. Separate lines
 * are separate copies, as separate COPY lines are.
 */
function linkHardLinks<T extends LayerEntry & { from: string }>(sorted: T[]): T[] {
  const first = new Map<string, T>();
  return sorted.map((e) => {
    if (e.type !== 'file') return e;
    const id = `${e.dev}:${e.ino}\0${e.from}`;
    const target = first.get(id);
    if (target === undefined) {
      first.set(id, e);
      return e;
    }
    return {
      path: e.path,
      type: 'link',
      mode: target.mode,
      size: 0,
      linkname: target.path,
      from: e.from,
    } as T;
  });
}

/**
 * A layer entry named `.wh.<name>` deletes `<name>` from the layers below
 * (`.wh..wh..opq` empties its directory): from the context it would silently
 * delete files of the base, so it is refused.
 */
function refuseWhiteout(p: string, from: string): void {
  const name = p.slice(p.lastIndexOf('/') + 1);
  if (name.startsWith('.wh.'))
    throw new UserError(
      `"/${p}" (from "${from}" in input "files") is named like an OCI whiteout (.wh.*), which would delete files of the base image`,
      'Rename the file, or leave it out of the context',
    );
}

function fileEntry(imgPath: string, source: string, st: fs.Stats, context: string): LayerEntry {
  return {
    path: imgPath,
    type: 'file',
    mode: st.mode & 0o111 ? 0o755 : 0o644,
    size: st.size,
    source,
    context,
    dev: st.dev,
    ino: st.ino,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
  };
}

function walk(root: string, dir: string, dest: string, add: (e: LayerEntry) => void): void {
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, d.name);
    const target = dest === '' ? d.name : `${dest}/${d.name}`;
    if (d.isSymbolicLink()) {
      add(symlinkEntry(root, abs, target));
    } else if (d.isDirectory()) {
      add({ path: target, type: 'dir', mode: 0o755, size: 0 });
      walk(root, abs, target, add);
    } else if (d.isFile()) {
      // lstat: a file swapped for a symlink since readdir is caught when it is opened.
      add(fileEntry(target, abs, fs.lstatSync(abs), root));
    } else {
      throw new UserError(
        `"${path.relative(root, abs)}" in the context is a socket, FIFO or device`,
        'Only files, directories and symlinks can go into the image',
      );
    }
  }
}

/**
 * A symlink inside a copied directory stays a symlink, when it is relative
 * and resolves inside the context; an absolute one would point somewhere else
 * inside the image, and one that leaves the context would reveal its layout.
 */
function symlinkEntry(root: string, abs: string, target: string): LayerEntry {
  const link = fs.readlinkSync(abs);
  const rel = path.relative(root, abs);
  if (path.isAbsolute(link))
    throw new UserError(
      `"${rel}" in the context is a symlink to the absolute path "${link}"`,
      'Make it relative, or copy the file it points to',
    );
  const resolved = path.resolve(path.dirname(abs), link);
  let real = resolved;
  try {
    real = fs.realpathSync(resolved);
  } catch {
    // A dangling link is kept as it is, if it stays inside the context.
  }
  if (!isInside(root, resolved) || !isInside(root, real))
    throw new UserError(
      `"${rel}" in the context is a symlink to "${link}", outside the context`,
      'Only files inside the context can go into the image',
    );
  return { path: target, type: 'symlink', mode: 0o777, size: 0, linkname: link };
}
