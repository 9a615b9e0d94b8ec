import { UserError } from '../errors/index.ts';
import type { BaseTree } from './base-tree.ts';
import { type LayerEntry, sortEntries } from './files.ts';
import type { TarEntry } from './tar-read.ts';

// Linux's limit on symlinks followed in one lookup.
const MAX_LINKS = 40;

/**
 * Places the layer's entries on a base, so that the layer changes nothing
 * the base has for a path it only passes through:
 *
 * - A path that goes through a symlink of the base is resolved as a chroot
 *   would (an absolute target from the image root, `..` stopping at the
 *   root), the way a Dockerfile's COPY resolves its destination: with
 *   `lib -> usr/lib`, `/lib/x` goes to `/usr/lib/x`, and the symlink stays.
 *   Leaving the path as it is would not do: docker's overlay2 unpacks a layer
 *   into an empty directory, where `lib/` would become a real directory that
 *   hides the base's `lib` symlink.
 * - A directory the base has is written with the base's header (mode,
 *   owner, mtime): `/tmp` keeps 1777. Leaving it out of the layer would not
 *   do either: unpackers create a missing parent as root 0755, and on overlay
 *   the upper directory's mode is what the container sees.
 * - A file or symlink where the base has a directory, or a directory where it
 *   has a file, is refused: it would hide what the base has there.
 *
 * On scratch (no tree) the entries are returned as they are.
 */
export function placeEntries(
  entries: readonly LayerEntry[],
  base: BaseTree | undefined,
  onMove?: (from: string, to: string) => void,
): LayerEntry[] {
  if (!base) return [...entries];
  const moved = new Map<string, string>();
  const out = new Map<string, LayerEntry>();
  const named = new Map<string, string>();
  for (const e of entries) {
    const to = resolvePath(base, e.path, e.type === 'dir');
    moved.set(e.path, to);
    const parent = e.path.slice(0, Math.max(0, e.path.lastIndexOf('/')));
    // Said once, where the move starts: /lib -> /usr/lib, not every path below it.
    if (to !== e.path && (moved.get(parent) ?? parent) === parent) onMove?.(e.path, to);
    if (to === '') continue; // the root itself: never an entry of ours
    const prev = out.get(to);
    if (prev) {
      if (prev.type === 'dir' && e.type === 'dir') continue;
      throw new UserError(
        `"/${named.get(to)}" and "/${e.path}" are the same path "/${to}" in the base image (through its symlinks)`,
        'Give each destination once',
      );
    }
    out.set(to, { ...e, path: to });
    named.set(to, e.path);
  }
  for (const [to, e] of out) {
    const b = base.get(to);
    if (e.type === 'dir') {
      if (b?.type === '5') out.set(to, fromBase(to, b));
      else if (b) throw notADirectory(to, b);
    } else if (b?.type === '5') {
      throw new UserError(
        `"/${to}" is a directory in the base image; input "files" puts a ${e.type === 'symlink' ? 'symlink' : 'file'} there, which would hide everything in it`,
        `To put it into the directory, end the destination with "/" (e.g. /${to}/)`,
      );
    }
    if (e.type === 'link') out.set(to, { ...e, path: to, linkname: moved.get(e.linkname!) ?? e.linkname });
  }
  // Every parent of a placed path, the base's own where it has one.
  for (const to of [...out.keys()]) {
    const parts = to.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (out.has(dir)) continue;
      const b = base.get(dir);
      if (b && b.type !== '5') throw notADirectory(dir, b);
      out.set(dir, b ? fromBase(dir, b) : { path: dir, type: 'dir', mode: 0o755, size: 0 });
    }
  }
  return sortEntries([...out.values()]);
}

function fromBase(p: string, b: TarEntry): LayerEntry {
  return { path: p, type: 'dir', mode: b.mode, size: 0, uid: b.uid, gid: b.gid, mtime: b.mtime };
}

function notADirectory(p: string, b: TarEntry): UserError {
  const what = b.type === '2' ? `a symlink to "${b.linkname}"` : 'a file';
  return new UserError(
    `"/${p}" is ${what} in the base image, and input "files" needs a directory there`,
    'Choose a destination that is a directory in the base, or one the base does not have',
  );
}

/**
 * The path `p` names on the base, following the base's symlinks in every
 * component but the last (and in the last too when `followLast`), within
 * the image root.
 */
export function resolvePath(base: BaseTree, p: string, followLast: boolean): string {
  const todo = p.split('/').reverse();
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.pop()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      done.pop();
      continue;
    }
    const here = [...done, c].join('/');
    const b = base.get(here);
    if (b?.type === '2' && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS)
        throw new UserError(
          `"/${p}" goes through more than ${MAX_LINKS} symlinks in the base image (a loop?)`,
          'Choose a destination that does not go through a symlink loop of the base',
        );
      if (b.linkname.startsWith('/')) done.length = 0;
      todo.push(...b.linkname.split('/').reverse());
      continue;
    }
    done.push(c);
  }
  return done.join('/');
}
