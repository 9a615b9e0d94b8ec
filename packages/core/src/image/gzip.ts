import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import type { Digest } from '../ref/index.ts';

/**
 * Deterministic, parallel gzip of a layer, hashed while it is written.
 *
 * The level is part of every layer digest: changing it changes every image
 * anew has ever built from the same inputs, so it is fixed here once (and
 * named in DAEMONLESS_BUILDER). Level 1 compresses about 4-5 times faster
 * than zlib's default 6 for about 14% more bytes; at level 6 compression is
 * slower than a registry upload, so a higher level makes builds slower end to
 * end.
 *
 * The uncompressed stream is cut at fixed offsets (BLOCK_SIZE) and each block
 * is compressed on its own (on worker threads, and on this one when they are
 * busy), ended byte-aligned so that the raw deflate streams concatenate into
 * one (as pigz does). Inside a block, runs of 512-byte pages whose bytes look
 * uniformly random (compressed images, fonts, archives, encrypted data) are
 * stored as they are, and the rest is deflated: zlib searches random bytes
 * for matches at a third of its speed on text and saves nothing there (see
 * docs/build.md for what it costs and saves). Every decision depends only on
 * the bytes, never on timing or the number of cores, so the output is the
 * same everywhere; the result is a single ordinary gzip member with our own
 * fixed 10-byte header: no file name, mtime 0, OS "unix".
 */
export const GZIP_LEVEL = 1;
export const BLOCK_SIZE = 1 << 20;

// zlib's header for this level: XFL 4 ("fastest") as zlib writes for level 1, OS 3 (unix).
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x04, 0x03]);

// Room for a block's output: stored or deflated, a block grows by a few bytes per run of pages
// and per 64 KiB at most (zlib's deflateBound), far less than this.
const OUT_CAPACITY = BLOCK_SIZE + (64 << 10);

// Blocks this thread compresses alone before it starts others.
const THREADS_FROM = 4;

/**
 * One block as raw deflate, ending on a byte boundary (and with the final
 * block when `last`), in `into` when it fits. Self-contained, with zlib
 * passed in, and without inner functions (the bundler would name them
 * through a helper of its own): its source is also the worker's code.
 */
export function compressBlock(
  z: typeof zlib,
  data: Uint8Array,
  last: boolean,
  level: number,
  into?: ArrayBuffer,
): Buffer {
  const PAGE = 512;
  // Random-looking runs shorter than this are deflated with what surrounds them: storing them
  // would cut the deflate stream, and with it the window that text around them matches against.
  const MIN_STORED_PAGES = 8;
  const STORED_MAX = 65535;
  const counts = new Uint32Array(256);
  // Which page last touched each count: a count from an earlier page reads as 0, with no clearing.
  const stamps = new Uint32Array(256);
  const pages = Math.floor(data.length / PAGE);
  // A partial page (only ever the stream's last) is deflated.
  const stored = new Uint8Array(pages + 1);
  for (let p = 0; p < pages; p++) {
    // 128 samples (every 4th byte) of uniform bytes show about 101 distinct values and a sum of
    // squared counts about 192 (give or take 11); text, code and tables fall far short. The first
    // 64 (every 8th byte) settle most pages that are not random, at half the cost.
    const at = p * PAGE;
    const stamp = p + 1;
    let distinct = 0;
    let squares = 0;
    for (let half = 0; half < 8; half += 4) {
      for (let i = at + half; i < at + PAGE; i += 8) {
        const b = data[i]!;
        if (stamps[b] !== stamp) {
          stamps[b] = stamp;
          counts[b] = 0;
          distinct++;
        }
        squares += 2 * counts[b]!++ + 1;
      }
      if (distinct < 50) break;
    }
    if (distinct >= 90 && squares < 240) stored[p] = 1;
  }
  for (let p = 0; p < pages; ) {
    let q = p;
    while (q < pages && stored[q] === stored[p]) q++;
    if (stored[p] === 1 && q - p < MIN_STORED_PAGES) stored.fill(0, p, q);
    p = q;
  }
  // Runs of pages alike, as [start, end, stored] triples.
  const runs: number[] = [];
  for (let p = 0; p * PAGE < data.length; p++) {
    const end = Math.min((p + 1) * PAGE, data.length);
    if (runs.length > 0 && runs[runs.length - 1] === stored[p]) runs[runs.length - 2] = end;
    else runs.push(p * PAGE, end, stored[p]!);
  }
  const parts: Uint8Array[] = [];
  for (let r = 0; r < runs.length; r += 3) {
    const from = runs[r]!;
    const to = runs[r + 1]!;
    if (runs[r + 2] === 0) {
      parts.push(z.deflateRawSync(data.subarray(from, to), { level, finishFlush: z.constants.Z_SYNC_FLUSH }));
      continue;
    }
    // Stored blocks (RFC 1951, 3.2.4): after a sync flush the stream is byte-aligned, so each is a
    // header byte (not final, type 00), LEN and its complement, then the bytes.
    for (let at = from; at < to; at += STORED_MAX) {
      const n = Math.min(STORED_MAX, to - at);
      parts.push(
        Uint8Array.of(0, n & 0xff, n >>> 8, ~n & 0xff, (~n >>> 8) & 0xff),
        data.subarray(at, at + n),
      );
    }
  }
  // The final block: stored and empty.
  if (last) parts.push(Uint8Array.of(1, 0, 0, 0xff, 0xff));
  let size = 0;
  for (const p of parts) size += p.length;
  // Never a slice of Node's pool, so that a worker can hand the buffer over.
  const out = into && into.byteLength >= size ? Buffer.from(into, 0, size) : Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const WORKER = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const compressBlock = ${compressBlock.toString()};
parentPort.on('message', ({ id, block, length, last, level, into }) => {
  try {
    const out = compressBlock(zlib, new Uint8Array(block, 0, length), last, level, into);
    // The block goes back too, to be filled again.
    parentPort.postMessage({ id, out: out.buffer, length: out.length, block }, [out.buffer, block]);
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.stack) || e) });
  }
});
`;

/**
 * Worker threads that compress blocks, one per core but the one this thread
 * runs on (each costs about 15 MiB; this thread compresses a block when they
 * are busy). zlib's own thread pool runs one zlib call per task, and a block
 * with many runs of random and other pages needs many. Blocks and outputs go
 * by message, their memory handed over rather than copied.
 */
class CompressThreads {
  private readonly workers: { worker: Worker; pending: number }[] = [];
  private readonly waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure?: Error;

  constructor(
    count: number,
    /** Takes each block back once it is compressed. */
    private readonly giveBack: (block: ArrayBuffer) => void,
  ) {
    for (let i = 0; i < count; i++) {
      // Not unref'd: a build awaiting a block would otherwise see its event loop empty and exit.
      // close() ends them (writeLayer always calls it).
      const worker = new Worker(WORKER, { eval: true });
      const slot = { worker, pending: 0 };
      worker.on(
        'message',
        (m: { id: number; out?: ArrayBuffer; length?: number; block?: ArrayBuffer; error?: string }) => {
          slot.pending--;
          if (m.block) this.giveBack(m.block);
          const w = this.waiting.get(m.id);
          this.waiting.delete(m.id);
          if (m.error !== undefined) w?.reject(new Error(`compressing a layer block: ${m.error}`));
          else w?.resolve(Buffer.from(m.out!, 0, m.length));
        },
      );
      const fail = (e: Error) => {
        this.failure ??= e;
        for (const w of this.waiting.values()) w.reject(e);
        this.waiting.clear();
      };
      worker.on('error', (e) => fail(new Error(`a compression thread failed: ${e.message}`)));
      worker.on('exit', () => fail(new Error('a compression thread stopped')));
      this.workers.push(slot);
    }
  }

  /** Whether a worker has room for a block: one being compressed and one waiting, so none waits for this thread. */
  ready(): boolean {
    return this.workers.some((w) => w.pending < 2);
  }

  /** Compresses a block; its memory (and `into`'s) goes to the worker, and the caller must not touch it again. */
  compress(block: Buffer, last: boolean, into?: ArrayBuffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.workers.reduce((a, b) => (b.pending < a.pending ? b : a));
    const id = this.nextId++;
    slot.pending++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // A block is always a whole ArrayBuffer of its own (allocUnsafeSlow, or one given back).
      const memory = block.buffer as ArrayBuffer;
      slot.worker.postMessage(
        { id, block: memory, length: block.length, last, level: GZIP_LEVEL, into },
        into ? [memory, into] : [memory],
      );
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the compression threads were closed');
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

export interface GzipResult {
  /** sha256 of the compressed bytes: the layer's digest. */
  digest: Digest;
  /** Size of the compressed bytes. */
  size: number;
  /** sha256 of the uncompressed bytes: the layer's diff ID. */
  diffId: Digest;
  uncompressedSize: number;
}

export class DeterministicGzip {
  private readonly diffHash: Hash = createHash('sha256');
  private readonly outHash: Hash = createHash('sha256');
  private crc = 0;
  private uncompressed = 0;
  private compressed = 0;
  private block = Buffer.allocUnsafeSlow(BLOCK_SIZE);
  private fill = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  // One or two blocks more than cores, so a core never waits while the next block is read and hashed.
  private readonly concurrency = os.availableParallelism() + 2;
  private threads?: CompressThreads;
  private blocks = 0;
  // Blocks and output buffers done with, to be used again: left to the collector, they pile up
  // for tens of MiB before it runs (it counts the memory outside its heap only loosely).
  private readonly freeBlocks: ArrayBuffer[] = [];
  private readonly freeOutputs: ArrayBuffer[] = [];
  private started = false;

  constructor(
    private readonly out: FileHandle,
    /** Also handed every compressed byte, in order, after it is written (an upload made while compressing). */
    private readonly tee?: (bytes: Buffer) => Promise<void>,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    if (!this.started) {
      this.started = true;
      await this.emit(HEADER);
    }
    this.diffHash.update(chunk);
    this.crc = zlib.crc32(chunk, this.crc);
    this.uncompressed += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, BLOCK_SIZE - this.fill);
      chunk.copy(this.block, this.fill, offset, offset + n);
      this.fill += n;
      offset += n;
      if (this.fill === BLOCK_SIZE) await this.dispatch(false);
    }
  }

  async finish(): Promise<GzipResult> {
    try {
      if (!this.started) {
        this.started = true;
        await this.emit(HEADER);
      }
      await this.dispatch(true);
      while (this.inFlight.length > 0) await this.emit(await this.inFlight.shift()!);
    } finally {
      await this.close();
    }
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.uncompressed % 2 ** 32, 4);
    await this.emit(trailer);
    return {
      digest: `sha256:${this.outHash.digest('hex')}`,
      size: this.compressed,
      diffId: `sha256:${this.diffHash.digest('hex')}`,
      uncompressedSize: this.uncompressed,
    };
  }

  /** Stops the threads; blocks still being compressed are dropped. finish() calls it; call it after a failed write. */
  async close(): Promise<void> {
    for (const p of this.inFlight.splice(0)) p.catch(() => undefined);
    await this.threads?.close();
    this.threads = undefined;
  }

  private async dispatch(last: boolean): Promise<void> {
    const data = this.block.subarray(0, this.fill);
    const into = this.freeOutputs.pop() ?? new ArrayBuffer(OUT_CAPACITY);
    // Threads start once a layer is a few blocks large (one takes longer to start than a block takes
    // here), and start while more is read.
    if (++this.blocks >= THREADS_FROM && !last && os.availableParallelism() > 1)
      this.threads ??= new CompressThreads(os.availableParallelism() - 1, (b) => this.freeBlocks.push(b));
    if (this.threads?.ready()) {
      this.inFlight.push(this.threads.compress(data, last, into));
      // The block now belongs to the worker; fill another.
      const free = this.freeBlocks.pop();
      this.block = free ? Buffer.from(free) : Buffer.allocUnsafeSlow(BLOCK_SIZE);
    } else {
      // The threads are busy (or there are none): this thread takes the block, as one more core.
      // The output is a copy, so the block can be filled again at once.
      this.inFlight.push(Promise.resolve(compressBlock(zlib, data, last, GZIP_LEVEL, into)));
    }
    this.fill = 0;
    while (this.inFlight.length >= this.concurrency) await this.emit(await this.inFlight.shift()!);
  }

  private async emit(bytes: Buffer): Promise<void> {
    this.outHash.update(bytes);
    this.compressed += bytes.length;
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.out.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
    await this.tee?.(bytes);
    // Written and handed on (the tee copies what it keeps): a block's output buffer can take the next.
    if (bytes.buffer.byteLength === OUT_CAPACITY) this.freeOutputs.push(bytes.buffer as ArrayBuffer);
  }
}
