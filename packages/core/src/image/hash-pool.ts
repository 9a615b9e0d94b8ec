import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * sha256 of many open files on every core: this thread and up to three
 * workers take files from one queue in shared memory.
 *
 * This thread is the only one that opens files (each through its checks, see
 * openChecked): it puts each descriptor in the queue and, while the queue is
 * full, hashes the oldest one itself. Workers take the oldest one too, with a
 * compare-and-swap on the queue's head, and write the digest back into shared
 * memory. Nothing goes through messages per file: a message's round trip
 * costs about as much as hashing a small file, and a context is mostly small
 * files. This thread also closes every descriptor, a worker's once its state
 * says it is done with it (Node warns when a worker closes a descriptor it did
 * not open).
 *
 * A worker takes about 30 ms to start, as long as walking a large context:
 * a build starts the threads before it walks (HashThreads.start), so they are
 * ready when the hashing begins.
 */

// Control words (Int32): how many files are opened, how many are taken, and a stop flag.
const OPENED = 0;
const TAKEN = 1;
const STOP = 2;
// Per-file state: 0 while pending.
const DONE = 1;
const FAILED = 2;

const WORKER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const chunk = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ n, ctrl, fds, sizes, digests, state, hashed }) => {
  const out = Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength);
  for (;;) {
    if (Atomics.load(ctrl, ${STOP}) !== 0) break;
    const taken = Atomics.load(ctrl, ${TAKEN});
    if (taken >= n) break;
    const opened = Atomics.load(ctrl, ${OPENED});
    if (taken >= opened) { Atomics.wait(ctrl, ${OPENED}, opened, 100); continue; }
    if (Atomics.compareExchange(ctrl, ${TAKEN}, taken, taken + 1) !== taken) continue;
    try {
      const h = crypto.createHash('sha256');
      let size = 0;
      for (let k; (k = fs.readSync(fds[taken], chunk, 0, chunk.length, null)) > 0; size += k) h.update(chunk.subarray(0, k));
      h.digest().copy(out, taken * 32);
      sizes[taken] = size;
      Atomics.add(hashed, 0, BigInt(size));
      Atomics.store(state, taken, ${DONE});
    } catch {
      Atomics.store(state, taken, ${FAILED});
    }
  }
  parentPort.postMessage('done');
});
`;

export interface HashedFile {
  sha256: string;
  size: number;
}

export class HashThreads {
  private constructor(private readonly workers: Worker[]) {}

  /** Starts the workers (none on one core); they wait, and never keep the process alive. */
  static start(count = Math.min(os.availableParallelism() - 1, 3)): HashThreads {
    const workers = Array.from({ length: Math.max(0, count) }, () => {
      const w = new Worker(WORKER, { eval: true });
      w.unref();
      // A worker that dies shows as its files left pending; the error itself has nowhere better to go.
      w.on('error', () => undefined);
      return w;
    });
    return new HashThreads(workers);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /**
   * Hashes `count` files, opened one by one with `open` (which may throw to
   * stop everything); `hashHere` hashes one on this thread. A file a worker
   * could not read is an Error in its place, for the caller to name. Every
   * descriptor is closed when this returns or throws.
   */
  async hash(
    count: number,
    open: (i: number) => number,
    hashHere: (fd: number) => HashedFile,
    /** Bytes hashed so far, by every thread. */
    progress?: (done: number) => void,
  ): Promise<(HashedFile | Error)[]> {
    const ctrl = new Int32Array(new SharedArrayBuffer(3 * 4));
    const fds = new Int32Array(new SharedArrayBuffer(count * 4));
    const sizes = new Float64Array(new SharedArrayBuffer(count * 8));
    const digests = new Uint8Array(new SharedArrayBuffer(count * 32));
    const state = new Int32Array(new SharedArrayBuffer(count * 4));
    const hashed = new BigInt64Array(new SharedArrayBuffer(8));
    const here = new Map<number, HashedFile>();
    // Files this thread took (and so closes itself), hashed or not.
    const mine = new Set<number>();
    // Files taken by a worker whose descriptors are still open; `seen` is how far TAKEN was looked at.
    let held: number[] = [];
    let seen = 0;
    const sweep = () => {
      for (const taken = Atomics.load(ctrl, TAKEN); seen < taken; seen++)
        if (!mine.has(seen)) held.push(seen);
      if (!held.some((i) => Atomics.load(state, i) !== 0)) return;
      const still: number[] = [];
      for (const i of held) {
        if (Atomics.load(state, i) === 0) still.push(i);
        else closeQuietly(fds[i]!);
      }
      held = still;
    };
    // Files opened and not yet taken, at most: bounds the descriptors held open.
    const ahead = 16;

    const finished = this.workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          // Referenced while it works: the process must wait for its answer.
          w.ref();
          const done = () => {
            w.off('message', done);
            w.off('exit', done);
            w.unref();
            resolve();
          };
          w.on('message', done);
          w.on('exit', done);
          w.postMessage({ n: count, ctrl, fds, sizes, digests, state, hashed });
        }),
    );

    const takeOne = (): boolean => {
      for (;;) {
        const taken = Atomics.load(ctrl, TAKEN);
        if (taken >= Atomics.load(ctrl, OPENED)) return false;
        if (Atomics.compareExchange(ctrl, TAKEN, taken, taken + 1) !== taken) continue;
        mine.add(taken);
        const fd = fds[taken]!;
        let r: HashedFile;
        try {
          r = hashHere(fd);
        } finally {
          closeQuietly(fd);
        }
        here.set(taken, r);
        Atomics.add(hashed, 0, BigInt(r.size));
        Atomics.store(state, taken, DONE);
        progress?.(Number(Atomics.load(hashed, 0)));
        return true;
      }
    };

    try {
      for (let i = 0; i < count; i++) {
        fds[i] = open(i);
        Atomics.store(ctrl, OPENED, i + 1);
        Atomics.notify(ctrl, OPENED);
        while (Atomics.load(ctrl, OPENED) - Atomics.load(ctrl, TAKEN) >= ahead) takeOne();
        sweep();
      }
      while (takeOne()) {}
    } catch (err) {
      Atomics.store(ctrl, STOP, 1);
      throw err;
    } finally {
      Atomics.notify(ctrl, OPENED);
      await Promise.all(finished);
      // The workers are idle again: close what they held and what was opened and never taken.
      sweep();
      for (const i of held) closeQuietly(fds[i]!);
      for (let i = Atomics.load(ctrl, TAKEN); i < Atomics.load(ctrl, OPENED); i++) closeQuietly(fds[i]!);
    }
    progress?.(Number(Atomics.load(hashed, 0)));
    return Array.from({ length: count }, (_, i) => {
      const r = here.get(i);
      if (r) return r;
      if (state[i] !== DONE)
        return new Error(state[i] === FAILED ? 'it could not be read' : 'its hashing thread stopped');
      return { sha256: Buffer.from(digests.subarray(i * 32, i * 32 + 32)).toString('hex'), size: sizes[i]! };
    });
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {}
}
