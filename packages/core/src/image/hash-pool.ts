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
 * Files are added one by one and taken in batches of shared memory, so no
 * count is needed in advance and a huge context does not need one huge
 * buffer. A worker takes about 30 ms to start, as long as walking a large
 * context, so a build starts the threads before it walks (HashThreads.start).
 */

// Control words (Int32) of a batch: files opened, files taken, stop, and "no more files".
const OPENED = 0;
const TAKEN = 1;
const STOP = 2;
const CLOSED = 3;
// Ids of batches, unique in the process: a worker's word that it left one can come after its queue is gone.
let batchIds = 0;
// Per-file state: 0 while pending.
const DONE = 1;
const FAILED = 2;

const WORKER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const chunk = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ id, ctrl, fds, sizes, digests, state, hashed }) => {
  const out = Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength);
  for (;;) {
    if (Atomics.load(ctrl, ${STOP}) !== 0) break;
    const taken = Atomics.load(ctrl, ${TAKEN});
    const opened = Atomics.load(ctrl, ${OPENED});
    if (taken >= opened) {
      if (Atomics.load(ctrl, ${CLOSED}) !== 0) break;
      Atomics.wait(ctrl, ${OPENED}, opened, 100);
      continue;
    }
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
  parentPort.postMessage(id);
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

  /** A queue to add files to one by one; `hashHere` hashes one on this thread (with the caller's buffer). */
  queue<K>(hashHere: (fd: number) => HashedFile, progress?: (done: number) => void): HashQueue<K> {
    return new HashQueue<K>(this.workers, hashHere, progress);
  }

  /**
   * Hashes `count` files, opened one by one with `open` (which may throw to
   * stop everything). A file a worker could not read is an Error in its
   * place, for the caller to name. Every descriptor is closed when this
   * returns or throws.
   */
  async hash(
    count: number,
    open: (i: number) => number,
    hashHere: (fd: number) => HashedFile,
    /** Bytes hashed so far, by every thread. */
    progress?: (done: number) => void,
  ): Promise<(HashedFile | Error)[]> {
    const q = this.queue<number>(hashHere, progress);
    try {
      for (let i = 0; i < count; i++) q.add(i, () => open(i));
    } catch (err) {
      await q.abort();
      throw err;
    }
    const r = await q.finish();
    return Array.from({ length: count }, (_, i) => r.get(i)!);
  }
}

/** Files in one stretch of shared memory; a queue moves to a new batch when one is full. */
class Batch<K> {
  static readonly SIZE = 4096;
  readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * 4));
  readonly fds = new Int32Array(new SharedArrayBuffer(Batch.SIZE * 4));
  readonly sizes = new Float64Array(new SharedArrayBuffer(Batch.SIZE * 8));
  readonly digests = new Uint8Array(new SharedArrayBuffer(Batch.SIZE * 32));
  readonly state = new Int32Array(new SharedArrayBuffer(Batch.SIZE * 4));
  readonly keys: K[] = [];
  /** Files this thread took (and closed) itself, hashed or not. */
  readonly mine = new Set<number>();
  /** Files a worker took whose descriptors are still open; `seen` is how far TAKEN was looked at. */
  held: number[] = [];
  seen = 0;
  /** Settles when every worker has left this batch. */
  left: Promise<void>[] = [];

  shared() {
    return { ctrl: this.ctrl, fds: this.fds, sizes: this.sizes, digests: this.digests, state: this.state };
  }

  get opened(): number {
    return Atomics.load(this.ctrl, OPENED);
  }
  get taken(): number {
    return Atomics.load(this.ctrl, TAKEN);
  }

  /** Closes the descriptors of files workers are done with. */
  sweep(): void {
    for (const taken = this.taken; this.seen < taken; this.seen++)
      if (!this.mine.has(this.seen)) this.held.push(this.seen);
    if (!this.held.some((i) => Atomics.load(this.state, i) !== 0)) return;
    const still: number[] = [];
    for (const i of this.held) {
      if (Atomics.load(this.state, i) === 0) still.push(i);
      else closeQuietly(this.fds[i]!);
    }
    this.held = still;
  }

  /** Closed, every file taken, and none still being hashed. */
  get settled(): boolean {
    if (Atomics.load(this.ctrl, CLOSED) === 0 || this.taken < this.opened) return false;
    for (let i = 0; i < this.opened; i++) if (Atomics.load(this.state, i) === 0) return false;
    return true;
  }

  /** No more files: workers leave once it is empty. */
  close(): void {
    Atomics.store(this.ctrl, CLOSED, 1);
    Atomics.notify(this.ctrl, OPENED);
  }
}

export class HashQueue<K> {
  private readonly batches: Batch<K>[] = [];
  private readonly here = new Map<K, HashedFile>();
  private readonly hashed = new BigInt64Array(new SharedArrayBuffer(8));
  // Files opened and not yet taken, at most: bounds the descriptors held open.
  private static readonly AHEAD = 16;

  constructor(
    private readonly workers: Worker[],
    private readonly hashHere: (fd: number) => HashedFile,
    private readonly progress?: (done: number) => void,
  ) {}

  private get current(): Batch<K> {
    const last = this.batches.at(-1);
    if (last && last.opened < Batch.SIZE) return last;
    if (last) {
      last.close();
      // Whatever no worker has taken is hashed here, so that nothing waits on a closed batch.
      while (this.takeOne(last)) {}
    }
    const b = new Batch<K>();
    const id = ++batchIds;
    b.left = this.workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          // Referenced while it works on a batch: the process must wait for it to leave.
          busy(w, +1);
          const done = (m: unknown) => {
            if (m !== id && m !== 'exit') return;
            w.off('message', done);
            w.off('exit', gone);
            busy(w, -1);
            resolve();
          };
          const gone = () => done('exit');
          w.on('message', done);
          w.on('exit', gone);
          w.postMessage({ id, ...b.shared(), hashed: this.hashed });
        }),
    );
    this.batches.push(b);
    return b;
  }

  /** Opens a file (open may throw: then call abort) and queues it; may hash one here to keep the queue short. */
  add(key: K, open: () => number): void {
    const b = this.current;
    const i = b.opened;
    b.fds[i] = open();
    b.keys[i] = key;
    Atomics.store(b.ctrl, OPENED, i + 1);
    Atomics.notify(b.ctrl, OPENED);
    while (b.opened - b.taken >= HashQueue.AHEAD) this.takeOne(b);
    b.sweep();
  }

  /** Every file's result by its key: a file a worker could not read is an Error. Closes every descriptor. */
  async finish(): Promise<Map<K, HashedFile | Error>> {
    const b = this.batches.at(-1);
    b?.close();
    try {
      if (b) while (this.takeOne(b)) {}
    } catch (err) {
      await this.abort();
      throw err;
    }
    await this.settle();
    this.progress?.(Number(Atomics.load(this.hashed, 0)));
    const out = new Map<K, HashedFile | Error>();
    for (const b of this.batches)
      for (let i = 0; i < b.opened; i++) {
        const key = b.keys[i]!;
        const mine = this.here.get(key);
        if (mine) out.set(key, mine);
        else if (b.state[i] === DONE)
          out.set(key, {
            sha256: Buffer.from(b.digests.subarray(i * 32, i * 32 + 32)).toString('hex'),
            size: b.sizes[i]!,
          });
        else
          out.set(
            key,
            new Error(b.state[i] === FAILED ? 'it could not be read' : 'its hashing thread stopped'),
          );
      }
    return out;
  }

  /** Stops every batch and closes every descriptor, after an error. */
  async abort(): Promise<void> {
    for (const b of this.batches) {
      Atomics.store(b.ctrl, STOP, 1);
      b.close();
    }
    await this.settle();
    // Opened and never taken: nobody else will close these.
    for (const b of this.batches) for (let i = b.taken; i < b.opened; i++) closeQuietly(b.fds[i]!);
  }

  /** Waits for the workers to leave every batch, then closes what they held. */
  private async settle(): Promise<void> {
    for (const b of this.batches) {
      // Once every file is taken and done, a worker only reads the batch's control words on its way
      // out: no need to wait for it (one still starting would cost a small context 30 ms).
      if (!b.settled) await Promise.all(b.left);
      b.sweep();
      for (const i of b.held) closeQuietly(b.fds[i]!);
      b.held = [];
    }
  }

  private takeOne(b: Batch<K>): boolean {
    for (;;) {
      const taken = b.taken;
      if (taken >= b.opened) return false;
      if (Atomics.compareExchange(b.ctrl, TAKEN, taken, taken + 1) !== taken) continue;
      b.mine.add(taken);
      const fd = b.fds[taken]!;
      let r: HashedFile;
      try {
        r = this.hashHere(fd);
      } finally {
        closeQuietly(fd);
      }
      this.here.set(b.keys[taken]!, r);
      Atomics.add(this.hashed, 0, BigInt(r.size));
      Atomics.store(b.state, taken, DONE);
      this.progress?.(Number(Atomics.load(this.hashed, 0)));
      return true;
    }
  }
}

const batchesOf = new WeakMap<Worker, number>();
function busy(w: Worker, delta: number): void {
  const n = (batchesOf.get(w) ?? 0) + delta;
  batchesOf.set(w, n);
  if (n > 0) w.ref();
  else w.unref();
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {}
}
