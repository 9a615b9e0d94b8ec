import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Digest, Reference } from '../ref/index.ts';
import { RegistryError } from './errors.ts';
import { type Body, type HttpStream, isTransientNetworkError } from './http.ts';
import { deadlineFor, pullScope, type Transport } from './transport.ts';
import type { BlobSource } from './upload.ts';

/**
 * A blob read from a registry and passed straight on to an upload, never
 * held whole: each range the upload asks for is a stream fed by the download.
 * Bytes are hashed the first time they pass; the last byte is released only
 * when the whole blob hashed to its digest, so a request carrying a wrong
 * blob never completes and nothing commits it. A dropped download resumes
 * with a Range request from the byte it got to; a range the upload sends
 * again (after a fault) is read again the same way. The registry checks the
 * digest itself when the upload is committed.
 */
export class BlobReader implements BlobSource {
  private readonly hash: Hash;
  private hashed = 0;
  private verified = false;
  private mismatch: RegistryError | undefined;
  private res: HttpStream | undefined;
  /** The offset in the blob of the next byte `res` gives. */
  private at = 0;
  private leftover: Buffer | undefined;
  private failures = 0;
  /** Each stream handed out gets the next number; only the newest may read the download. */
  private generation = 0;
  private active = false;

  constructor(
    private readonly t: Transport,
    private readonly repo: Reference,
    private readonly digest: Digest,
    private readonly size: number,
  ) {
    this.hash = createHash(digest.slice(0, digest.indexOf(':')));
  }

  async slice(start: number, end: number): Promise<Body> {
    if (start > this.hashed || end > this.size)
      throw new RegistryError(
        `the copy of ${this.digest} asked for bytes ${start}-${end} out of order`,
        0,
        'UPLOAD_RANGE',
      );
    return { size: end - start, open: () => Readable.from(this.bytes(start, end), { objectMode: false }) };
  }

  finish(): void {
    this.close();
    if (this.mismatch) throw this.mismatch;
    if (!this.verified)
      throw new RegistryError(
        `blob ${this.digest} from ${this.repo.name} was read only in part`,
        0,
        'DIGEST_MISMATCH',
      );
  }

  close(): void {
    this.res?.body.destroy();
    this.res = undefined;
    this.leftover = undefined;
  }

  private async *bytes(start: number, end: number): AsyncGenerator<Buffer> {
    if (this.mismatch) throw this.mismatch;
    // A request that got its answer before sending its whole body (a 401, an error) leaves its
    // stream unfinished: stop it, so two streams never read the one download.
    if (this.active) this.close();
    const gen = ++this.generation;
    this.active = true;
    try {
      let p = start;
      while (p < end) {
        let chunk: Buffer | undefined;
        try {
          if (!this.res || this.at !== p) await this.reopen(p);
          chunk = await this.next();
          if (!chunk) throw fault('the blob ended early', 'ETRUNCATED');
        } catch (e) {
          if (gen !== this.generation) return;
          this.close();
          if (!isTransientNetworkError(e) || ++this.failures >= this.t.retry.attempts) throw e;
          await this.t.backoff(this.failures, `GET blob ${this.digest}: ${(e as Error).message}`);
          continue;
        }
        if (gen !== this.generation) return;
        if (this.at + chunk.length > this.size)
          throw new RegistryError(
            `blob ${this.digest} from ${this.repo.name} has more than the ${this.size} bytes its descriptor gives`,
            0,
            'DIGEST_MISMATCH',
          );
        const take = chunk.length > end - p ? chunk.subarray(0, end - p) : chunk;
        if (take.length < chunk.length) this.leftover = chunk.subarray(take.length);
        this.at = p + take.length;
        if (this.at > this.hashed) {
          this.hash.update(take.subarray(this.hashed - p));
          this.hashed = this.at;
          if (this.hashed === this.size) this.verify();
        }
        p = this.at;
        yield take;
      }
    } finally {
      if (gen === this.generation) this.active = false;
    }
  }

  private verify(): void {
    const got = `${this.digest.slice(0, this.digest.indexOf(':'))}:${this.hash.digest('hex')}`;
    if (got !== this.digest) {
      this.mismatch = new RegistryError(
        `blob from ${this.repo.name} hashes to ${got}, not ${this.digest}`,
        0,
        'DIGEST_MISMATCH',
      );
      throw this.mismatch;
    }
    this.verified = true;
  }

  private async reopen(from: number): Promise<void> {
    this.close();
    this.res = await this.t.open(this.repo, {
      method: 'GET',
      url: `${this.repo.repository}/blobs/${this.digest}`,
      headers: from > 0 ? { range: `bytes=${from}-` } : {},
      scopes: [pullScope(this.repo)],
      expect: from > 0 ? [200, 206] : [200],
      deadlineMs: deadlineFor(this.size - from),
    });
    this.at = 0;
    if (this.res.status === 206) {
      const range = /^bytes (\d+)-/.exec(String(this.res.headers['content-range'] ?? ''));
      if (Number(range?.[1]) !== from)
        throw new RegistryError(
          `${this.repo.registry} answered a read of ${this.digest} from byte ${from} with another range`,
          206,
          'UPLOAD_RANGE',
        );
      this.at = from;
      return;
    }
    // A server that ignores Range sends the whole blob again: skip to where we are.
    while (this.at < from) {
      const c = await this.next();
      if (!c) throw fault('the blob ended early', 'ETRUNCATED');
      if (this.at + c.length > from) {
        this.leftover = c.subarray(from - this.at);
        this.at = from;
      } else this.at += c.length;
    }
  }

  /** The next piece of the download, or undefined at its end. */
  private next(): Promise<Buffer | undefined> {
    if (this.leftover) {
      const c = this.leftover;
      this.leftover = undefined;
      return Promise.resolve(c);
    }
    const body = this.res!.body;
    return new Promise<Buffer | undefined>((resolve, reject) => {
      const done = (e: Error | null | undefined, c?: Buffer) => {
        body.off('readable', onReadable);
        body.off('end', onEnd);
        body.off('error', onError);
        body.off('close', onClose);
        if (e) reject(e);
        else resolve(c);
      };
      const onReadable = () => {
        const c = body.read() as Buffer | null;
        if (c) done(null, c);
      };
      const onEnd = () => done(body.errored);
      const onError = (e: Error) => done(e);
      const onClose = () =>
        done(body.errored ?? (body.complete ? null : fault('response aborted', 'ECONNRESET')));
      if (body.readableEnded) return resolve(undefined);
      if (body.destroyed) return onClose();
      const c = body.read() as Buffer | null;
      if (c) return resolve(c);
      body.on('readable', onReadable);
      body.on('end', onEnd);
      body.on('error', onError);
      body.on('close', onClose);
    });
  }
}

const fault = (message: string, code: string) => Object.assign(new Error(message), { code });
