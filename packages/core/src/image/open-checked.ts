import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors/index.ts';
import type { LayerEntry } from './files.ts';

/**
 * Opens a context file for reading through a handle that is checked, so that
 * what is read is what was checked: the path may change between any check
 * and the open (a symlink renamed over the file, a parent directory swapped),
 * but an open handle cannot. The handle must be a regular file, the same file
 * (device and inode) the context walk saw, and its real path, read from the
 * kernel through /proc/self/fd, must be inside the context. O_NOFOLLOW refuses
 * a symlink in the last component at once; the real-path check covers every
 * other component. Every read of a file's content goes through here.
 */
export function openChecked(e: LayerEntry): number {
  const source = e.source!;
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO swapped in must not hang the open; a regular file ignores the flag.
    fd = fs.openSync(
      source,
      fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0),
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw changed(e, code === 'ELOOP' ? 'it is now a symlink' : `it can no longer be opened (${code})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw changed(e, 'it is no longer a regular file');
    if (e.ino !== undefined && (st.ino !== e.ino || st.dev !== e.dev))
      throw changed(e, 'it was replaced by another file');
    const real = realPathOf(fd, st, e);
    if (e.context !== undefined && !isInside(e.context, real))
      throw new UserError(
        `"${source}" now leads to "${real}", outside the context: a path in the context was swapped while the image was being built`,
        'Do not change the context during the build; only files inside it can go into the image',
      );
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/**
 * The real path of an open handle, from the kernel (Linux's /proc/self/fd).
 * Where there is no /proc (macOS runners), the path is resolved again and
 * must lead to the very file the handle holds (same device and inode): a
 * swap between the open and this check then shows as another file.
 */
function realPathOf(fd: number, st: fs.Stats, e: LayerEntry): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    let real: string;
    let now: fs.Stats;
    try {
      real = fs.realpathSync(e.source!);
      now = fs.statSync(real);
    } catch (err) {
      throw changed(e, `it can no longer be found (${(err as NodeJS.ErrnoException).code})`);
    }
    if (now.ino !== st.ino || now.dev !== st.dev) throw changed(e, 'it was replaced by another file');
    return real;
  }
}

/**
 * Both paths are canonical (a real path and the kernel's name of a handle):
 * a prefix test says what path.relative would, without its cost per file.
 */
function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : `${root}${path.sep}`);
}

export function changed(e: LayerEntry, how: string): UserError {
  return new UserError(
    `"${e.source}" changed while the image was being built: ${how}`,
    'Do not write to the context during the build, and build again',
  );
}
