import os from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * sha256 of open files on worker threads, one file per worker at a time, so
 * a large context hashes on every core (a cache hit is mostly hashing).
 * Workers get file descriptors, not paths: the caller opened each file
 * through its checks (openChecked), and a descriptor names that very file
 * in every thread of the process. The caller closes what it opened.
 */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const chunk = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ id, fd }) => {
  try {
    const h = crypto.createHash('sha256');
    let size = 0;
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; size += n) h.update(chunk.subarray(0, n));
    parentPort.postMessage({ id, sha256: h.digest('hex'), size });
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message) });
  }
});
`;

interface Job {
  fd: number;
  resolve: (r: { sha256: string; size: number }) => void;
  reject: (e: Error) => void;
}

export class HashPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly running = new Map<number, Job>();
  private readonly workers: Worker[] = [];
  private next = 0;

  constructor(size = Math.min(os.availableParallelism(), 4)) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER, { eval: true });
      w.on('message', (m: { id: number; sha256?: string; size?: number; error?: string }) => {
        const job = this.running.get(m.id);
        this.running.delete(m.id);
        this.idle.push(w);
        if (job) {
          if (m.error !== undefined) job.reject(new Error(m.error));
          else job.resolve({ sha256: m.sha256!, size: m.size! });
        }
        this.pump();
      });
      w.on('error', (e) => {
        for (const j of [...this.running.values(), ...this.queue.splice(0)]) j.reject(e);
        this.running.clear();
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  hash(fd: number): Promise<{ sha256: string; size: number }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fd, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const id = this.next++;
      this.running.set(id, job);
      this.idle.pop()!.postMessage({ id, fd: job.fd });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
