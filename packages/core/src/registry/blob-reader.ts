import { createHash, type Hash } from 'node:crypto';
import type { Digest, Reference } from '../ref/index.ts';
import { DigestMismatchError, RegistryError } from './errors.ts';
import { type Body, type HttpStream, isTransientNetworkError } from './http.ts';
import { deadlineFor, pullScope, type Transport } from './transport.ts';
import type { BlobSource } from './upload.ts';

/**
 * A blob read from a registry as a stream, in order, hashed as it passes:
 * it keeps only the chunk handed out last (an upload may resend part of it),
 * resumes a dropped download with a Range request from the byte it got to,
 * refuses a byte past the descriptor's size, and `finish` refuses content
 * that does not hash to the digest before anything commits it.
 */
export class BlobReader implements BlobSource {
  private readonly hash: Hash;
  private res: HttpStream | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes taken from the network (and hashed). */
  private pos = 0;
  private kept = { start: 0, bytes: Buffer.alloc(0) };
  private failures = 0;

  constructor(
    private readonly t: Transport,
    private readonly repo: Reference,
    private readonly digest: Digest,
    private readonly size: number,
  ) {
    this.hash = createHash(digest.slice(0, digest.indexOf(':')));
  }

  async slice(start: number, end: number): Promise<Body> {
    const keptEnd = this.kept.start + this.kept.bytes.length;
    if (start < this.kept.start || start > keptEnd || end > this.size)
      throw new RegistryError(
        `the copy of ${this.digest} asked for bytes ${start}-${end} out of order`,
        0,
        'UPLOAD_RANGE',
      );
    if (end > keptEnd) {
      const more = await this.take(end - keptEnd);
      this.kept = {
        start,
        bytes: Buffer.concat([this.kept.bytes.subarray(start - this.kept.start), more]),
      };
    } else if (start > this.kept.start) {
      this.kept = { start, bytes: this.kept.bytes.subarray(start - this.kept.start) };
    }
    return this.kept.bytes.subarray(0, end - start);
  }

  finish(): void {
    this.close();
    if (this.pos !== this.size)
      throw new DigestMismatchError(`blob ${this.digest} from ${this.repo.name} was read only in part`);
    const got = `${this.digest.slice(0, this.digest.indexOf(':'))}:${this.hash.digest('hex')}`;
    if (got !== this.digest)
      throw new DigestMismatchError(`blob from ${this.repo.name} hashes to ${got}, not ${this.digest}`);
  }

  close(): void {
    this.res?.body.destroy();
    this.res = undefined;
  }

  /** The next n bytes from the network. */
  private async take(n: number): Promise<Buffer> {
    while (this.pendingBytes < n) {
      try {
        const chunk = await this.next();
        if (!chunk) {
          if (this.pos + this.pendingBytes < this.size) throw fault('the blob ended early', 'ETRUNCATED');
          break;
        }
        if (this.pos + this.pendingBytes + chunk.length > this.size)
          throw new DigestMismatchError(
            `blob ${this.digest} from ${this.repo.name} has more than the ${this.size} bytes its descriptor gives`,
          );
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
      } catch (e) {
        this.close();
        if (!isTransientNetworkError(e) || ++this.failures >= this.t.retry.attempts) throw e;
        // What arrived before the fault is kept; the rest is asked for from there.
        await this.t.backoff(this.failures, `GET blob ${this.digest}: ${(e as Error).message}`);
      }
    }
    const all = Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    this.pending = all.length > n ? [all.subarray(n)] : [];
    this.pendingBytes = all.length - n;
    this.hash.update(out);
    this.pos += out.length;
    return out;
  }

  private async next(): Promise<Buffer | undefined> {
    if (!this.res) {
      const from = this.pos + this.pendingBytes;
      this.res = await this.t.open(this.repo, {
        method: 'GET',
        url: `${this.repo.repository}/blobs/${this.digest}`,
        headers: from > 0 ? { range: `bytes=${from}-` } : {},
        scopes: [pullScope(this.repo)],
        expect: from > 0 ? [200, 206] : [200],
        deadlineMs: deadlineFor(this.size - from),
      });
      // A server that ignores Range sends the whole blob again: skip what we have.
      if (this.res.status === 200 && from > 0) await this.skip(from);
      else if (this.res.status === 206) {
        const range = /^bytes (\d+)-/.exec(String(this.res.headers['content-range'] ?? ''));
        if (Number(range?.[1]) !== from) {
          this.close();
          throw new RegistryError(
            `${this.repo.registry} answered a read of ${this.digest} from byte ${from} with another range`,
            206,
            'UPLOAD_RANGE',
          );
        }
      }
    }
    const res = this.res;
    return new Promise<Buffer | undefined>((resolve, reject) => {
      const onData = (c: Buffer) => {
        cleanup();
        res.body.pause();
        resolve(c);
      };
      const onEnd = () => {
        cleanup();
        if (res.body.errored) reject(res.body.errored);
        else resolve(undefined);
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const onClose = () => {
        cleanup();
        if (res.body.errored) reject(res.body.errored);
        else if (!res.body.complete) reject(fault('response aborted', 'ECONNRESET'));
        else resolve(undefined);
      };
      const cleanup = () => {
        res.body.off('data', onData);
        res.body.off('end', onEnd);
        res.body.off('error', onError);
        res.body.off('close', onClose);
      };
      if (res.body.readableEnded) return resolve(undefined);
      if (res.body.destroyed) return onClose();
      res.body.on('data', onData);
      res.body.on('end', onEnd);
      res.body.on('error', onError);
      res.body.on('close', onClose);
      res.body.resume();
    });
  }

  private async skip(bytes: number): Promise<void> {
    let left = bytes;
    while (left > 0) {
      const c = await this.next();
      if (!c) throw fault('the blob ended early', 'ETRUNCATED');
      if (c.length > left) {
        this.pending.push(c.subarray(left));
        this.pendingBytes += c.length - left;
        left = 0;
      } else left -= c.length;
    }
  }
}

const fault = (message: string, code: string) => Object.assign(new Error(message), { code });
