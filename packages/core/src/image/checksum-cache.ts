import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LayerEntry } from './files.ts';

/**
 * The sha256 of context files remembered between builds on one machine, as
 * git's index and BuildKit's content-hash cache remember them: a file whose
 * device, inode, size, mtime and ctime are what they were when it was hashed
 * has the same content, so a second build of an unchanged context (a
 * self-hosted runner's workspace, the CLI on a laptop) does not read it
 * again. A fresh machine, such as a GitHub-hosted runner, starts empty.
 *
 * ctime cannot be set from user space: any write, rename or chmod moves it.
 * What remains is a write in the same clock tick as the one before it, which
 * leaves every field the same ("racily clean" in git's words). So a file is
 * remembered only when its last change is older than RACY_MS at the time it
 * is hashed; one changed more recently is hashed again next time.
 *
 * One file per context folder, under the user's cache folder (0700, files
 * 0600); a file that is not the user's own, or is writable by others, is
 * ignored. It is only a cache: when it cannot be read or written, every file
 * is hashed, as without it.
 */
const RACY_MS = 2000;
const VERSION = 1;
// Contexts remembered per cache folder (one file each, about 100 bytes a file): the most recently built.
const KEEP = 32;
const PREFIX = 'checksums-';

type Record = [size: number, mtimeMs: number, ctimeMs: number, sha256: string];

/** `$ANEW_CACHE_DIR`, else `$XDG_CACHE_HOME/anew`, else `~/.cache/anew`. */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['ANEW_CACHE_DIR']) return env['ANEW_CACHE_DIR'];
  return path.join(env['XDG_CACHE_HOME'] || path.join(env['HOME'] || os.homedir(), '.cache'), 'anew');
}

export class ChecksumCache {
  private readonly next = new Map<string, Record>();
  private taken = 0;
  private dirty = false;

  private constructor(
    private readonly file: string | undefined,
    private readonly known: Map<string, Record>,
  ) {}

  /** The cache of the context `root` (a resolved path) in `dir`; empty when there is none or it is not safe. */
  static load(dir: string, root: string): ChecksumCache {
    const file = path.join(
      dir,
      `${PREFIX}${createHash('sha256').update(root).digest('hex').slice(0, 32)}.json`,
    );
    const known = new Map<string, Record>();
    try {
      const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
      try {
        const st = fs.fstatSync(fd);
        if (ownedAndPrivate(st)) {
          const data = JSON.parse(fs.readFileSync(fd, 'utf8')) as {
            v?: number;
            root?: string;
            files?: unknown;
          };
          if (data.v === VERSION && data.root === root && data.files && typeof data.files === 'object')
            for (const [k, r] of Object.entries(data.files as { [k: string]: unknown }))
              if (validRecord(r)) known.set(k, r);
        }
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      // No cache yet, or one that cannot be read: hash everything.
    }
    return new ChecksumCache(file, known);
  }

  /** A cache that remembers nothing (a build told not to use one). */
  static none(): ChecksumCache {
    return new ChecksumCache(undefined, new Map());
  }

  /** The remembered sha256 of a file whose metadata has not changed since, or undefined. */
  lookup(e: LayerEntry): string | undefined {
    const r = this.known.get(key(e));
    if (r === undefined || r[0] !== e.size || r[1] !== e.mtimeMs || r[2] !== e.ctimeMs) return undefined;
    this.next.set(key(e), r);
    this.taken++;
    return r[3];
  }

  /** How many files an earlier build here left checksums of. */
  get remembered(): number {
    return this.known.size;
  }

  /** How many files lookup answered. */
  get hits(): number {
    return this.taken;
  }

  /** Remembers a file hashed now, unless it changed too recently to be told apart from a later change. */
  remember(e: LayerEntry, sha256: string, hashedAt: number): void {
    if (e.mtimeMs === undefined || e.ctimeMs === undefined) return;
    if (Math.max(e.mtimeMs, e.ctimeMs) > hashedAt - RACY_MS) return;
    this.next.set(key(e), [e.size, e.mtimeMs, e.ctimeMs, sha256]);
    this.dirty = true;
  }

  /** Writes what this build saw (and only that: files gone from the context are forgotten). */
  save(root: string): void {
    // Unchanged (every file was a hit, none is gone): nothing to write.
    if (this.file === undefined || (!this.dirty && this.next.size === this.known.size)) return;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      if (!ownedAndPrivate(fs.lstatSync(path.dirname(this.file)))) return;
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ v: VERSION, root, files: Object.fromEntries(this.next) }), {
        mode: 0o600,
        flag: 'wx',
      });
      fs.renameSync(tmp, this.file);
      prune(path.dirname(this.file));
    } catch {
      // Only a cache: the next build hashes everything.
    }
  }
}

/** Forgets all but the KEEP most recently written contexts. */
function prune(dir: string): void {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(PREFIX))
    .map((f) => ({ f, t: fs.statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(KEEP)) fs.rmSync(path.join(dir, f), { force: true });
}

function key(e: LayerEntry): string {
  return `${e.dev}:${e.ino}`;
}

function validRecord(r: unknown): r is Record {
  return (
    Array.isArray(r) &&
    r.length === 4 &&
    typeof r[0] === 'number' &&
    typeof r[1] === 'number' &&
    typeof r[2] === 'number' &&
    typeof r[3] === 'string' &&
    /^[0-9a-f]{64}$/.test(r[3])
  );
}

/** This user's, and not writable by anyone else (where there are uids). */
function ownedAndPrivate(st: fs.Stats): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}
