import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { DigestMismatchError, isTransientRegistryError, RegistryError } from './errors.ts';
import type { Body, HttpResponse } from './http.ts';
import { deadlineFor, pullScope, pushScope, type Transport } from './transport.ts';

/**
 * The bytes of one blob, handed out in order: `slice` is asked for ranges
 * that never start before the start of the range asked for last (a resumed
 * chunk), so a source read from the network needs to keep one chunk only.
 */
export interface BlobSource {
  slice(start: number, end: number): Promise<Body>;
  /**
   * Called once every byte has been sent: throws when they did not hash to
   * the digest. Chunked uploads call it before the commit; a one-request
   * upload is its own commit, so a source that streams must also refuse to
   * release its last byte before it has checked the hash.
   */
  finish?(): void;
}

/**
 * The OCI blob upload protocol over the shared transport: a blob already
 * there is not sent, a cross-repository mount is tried first, a small blob
 * goes in one PUT, a large one in PATCH chunks whose every answer's Range is
 * checked, resuming where the registry says after a fault.
 */
export class Uploader {
  constructor(
    private readonly t: Transport,
    private readonly log: Logger,
    private readonly chunkSize: number,
  ) {}

  async exists(repo: Reference, digest: Digest): Promise<boolean> {
    const res = await this.t.request(repo, {
      method: 'HEAD',
      url: `${repo.repository}/blobs/${digest}`,
      scopes: [pullScope(repo)],
      expect: [200, 404],
    });
    return res.status === 200;
  }

  /** Returns true when bytes were sent; false when the registry had the blob or mounted it. */
  async upload(
    repo: Reference,
    digest: Digest,
    size: number,
    /** The content, asked for once per upload session, and only when neither the registry has it nor a mount gives it. */
    content: () => Promise<BlobSource>,
    mountFrom: Reference[] = [],
    existenceChecked = false,
  ): Promise<boolean> {
    if (!existenceChecked && (await this.exists(repo, digest))) return false;
    let location: string | undefined;
    for (const from of mountFrom) {
      if (from.registry !== repo.registry || from.repository === repo.repository) continue;
      const res = await this.t.request(repo, {
        method: 'POST',
        url: `${repo.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.repository)}`,
        scopes: [pushScope(repo), pullScope(from)],
        expect: [201, 202],
      });
      if (res.status === 201) {
        this.log.debug(`RegistryClient.upload: mounted ${digest} from ${from.repository}`);
        return false;
      }
      // 202: the registry could not mount (or will not, e.g. no access to `from`) and opened an upload instead.
      location = locationOf(res);
      break;
    }
    for (let session = 1; ; session++) {
      location ??= await this.start(repo);
      try {
        const source = await content();
        if (size <= this.chunkSize) await this.putMonolithic(repo, location, digest, size, source);
        else await this.putChunked(repo, location, digest, size, source);
        return true;
      } catch (e) {
        // A session the registry dropped, or whose content arrived damaged, starts over from a fresh one.
        const again =
          e instanceof DigestMismatchError ||
          (e instanceof RegistryError &&
            ['UNREACHABLE', 'DIGEST_INVALID', 'DIGEST_MISMATCH', 'UPLOAD_RANGE'].includes(e.code ?? ''));
        if (session >= 3 || !again) {
          if (e instanceof DigestMismatchError)
            throw new RegistryError(`${e.message}; refused after ${session} attempts`, 0, 'DIGEST_MISMATCH');
          throw e;
        }
        this.log.debug(`RegistryClient.upload: restarting the upload of ${digest}: ${(e as Error).message}`);
        location = undefined;
      }
    }
  }

  private async start(repo: Reference): Promise<string> {
    const res = await this.t.request(repo, {
      method: 'POST',
      url: `${repo.repository}/blobs/uploads/`,
      scopes: [pushScope(repo)],
      expect: [202],
    });
    return locationOf(res);
  }

  private async putMonolithic(
    repo: Reference,
    location: string,
    digest: Digest,
    size: number,
    source: BlobSource,
  ): Promise<void> {
    await this.commit(repo, location, digest, await source.slice(0, size), size);
    source.finish?.();
  }

  private async commit(repo: Reference, location: string, digest: Digest, body: Body, size: number) {
    await this.t.request(repo, {
      method: 'PUT',
      url: withQuery(location, 'digest', digest),
      headers: { 'content-type': 'application/octet-stream' },
      body,
      scopes: [pushScope(repo)],
      expect: [201],
      deadlineMs: deadlineFor(size),
    });
  }

  /**
   * PATCH in chunks. Every answer says in its Range how much the registry
   * holds; that, not what was sent, is where the next chunk starts. After a
   * fault (a dropped connection, a 5xx, a 416), ask the registry (GET on the
   * upload's Location) and go on from what it has.
   */
  private async putChunked(
    repo: Reference,
    location: string,
    digest: Digest,
    size: number,
    source: BlobSource,
  ): Promise<void> {
    let offset = 0;
    let failures = 0;
    // Distribution answers "0-0" both for nothing and for one byte received; this breaks the tie.
    let atLeast = 0;
    while (offset < size) {
      const end = Math.min(size, offset + this.chunkSize);
      const body = await source.slice(offset, end);
      let res: HttpResponse;
      try {
        res = await this.t.request(repo, {
          method: 'PATCH',
          url: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${offset}-${end - 1}`,
          },
          body,
          scopes: [pushScope(repo)],
          expect: [202],
          retry: false,
          deadlineMs: deadlineFor(end - offset),
        });
      } catch (e) {
        const resumable = isTransientRegistryError(e) || (e instanceof RegistryError && e.status === 416);
        if (!resumable || ++failures >= this.t.retry.attempts) throw e;
        if (e.status === 416) atLeast = offset + 1;
        await this.t.backoff(failures, `PATCH chunk at ${offset}: ${e.message}`, e.retryAfterMs);
        const status = await this.t.request(repo, {
          method: 'GET',
          url: location,
          scopes: [pushScope(repo)],
          expect: [204],
        });
        location = locationOf(status);
        const has = received(status, atLeast);
        if (has === undefined || has > end || has < 0) throw rangeError(repo, digest, status, end);
        offset = has;
        this.log.debug(`RegistryClient.upload: resuming ${digest} at byte ${offset}`);
        continue;
      }
      location = locationOf(res);
      const has = received(res, end === 1 ? 1 : 0) ?? end;
      if (has !== end) {
        // Less than sent: go on from there (the source still holds this chunk); more is impossible.
        if (has > end || has < offset || ++failures >= this.t.retry.attempts)
          throw rangeError(repo, digest, res, end);
        this.log.debug(
          `RegistryClient.upload: ${repo.registry} kept ${has} of ${end} bytes; resending the rest`,
        );
      } else failures = 0;
      offset = has;
      atLeast = 0;
    }
    source.finish?.();
    await this.commit(repo, location, digest, Buffer.alloc(0), 0);
  }
}

/**
 * The bytes an upload holds, from its Range header ("0-<last>", inclusive).
 * "0-0" is ambiguous (distribution says it for an empty upload too): it
 * counts as one byte only when the caller knows at least one arrived.
 */
export function received(res: Pick<HttpResponse, 'headers'>, atLeast = 0): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String(res.headers['range'] ?? '').trim());
  if (!m) return undefined;
  const last = Number(m[1]);
  if (last === 0) return atLeast >= 1 ? 1 : 0;
  return last + 1;
}

function rangeError(repo: Reference, digest: string, res: HttpResponse, sent: number): RegistryError {
  return new RegistryError(
    `${repo.registry} reports the range "${String(res.headers['range'] ?? '')}" for the upload of ${digest} after ${sent} bytes were sent`,
    res.status,
    'UPLOAD_RANGE',
  );
}

export function locationOf(res: HttpResponse): string {
  const loc = res.headers.location;
  if (!loc)
    throw new RegistryError(`registry gave no upload location (${res.status})`, res.status, 'NO_LOCATION');
  return new URL(loc, res.url).toString();
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}

/**
 * A blob sent while it is still being made (a layer as it is compressed),
 * before its digest and size are known: one upload session, PATCHed a chunk
 * at a time in order, every answer's Range checked, then committed with the
 * digest once the maker knows it. At most `queued` chunks wait in memory
 * while one is on the wire; a writer that gets ahead waits.
 *
 * It does not resume: the maker keeps its own copy (the layer file), so on
 * any fault the stream just stops taking bytes (`failed` says why) and the
 * caller uploads the copy the ordinary, resumable way.
 */
export class StreamedUpload {
  /** The chunk being filled, and chunk buffers back from their PATCH: a few, reused, never left to the collector. */
  private current: Buffer | undefined;
  private fill = 0;
  private readonly free: Buffer[] = [];
  private sent = 0;
  private location: Promise<string> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private waiters: (() => void)[] = [];
  /** Why the stream gave up, once it has. */
  failed: Error | undefined;

  constructor(
    private readonly t: Transport,
    private readonly repo: Reference,
    private readonly chunkSize: number,
    private readonly queued = 2,
    private readonly onSent?: (bytes: number) => void,
  ) {}

  /** Copies the bytes into line; resolves once there is room for more (the caller may then reuse them). */
  async write(bytes: Buffer): Promise<void> {
    let at = 0;
    while (at < bytes.length && !this.failed) {
      this.current ??= this.free.pop() ?? Buffer.allocUnsafeSlow(this.chunkSize);
      const n = bytes.copy(this.current, this.fill, at);
      at += n;
      this.fill += n;
      if (this.fill === this.chunkSize) await this.flush();
    }
  }

  /** Sends what is left and commits the blob under its digest; false when the stream had failed. */
  async commit(digest: Digest): Promise<boolean> {
    if (!this.failed && this.fill > 0) await this.flush();
    await this.chain;
    if (this.failed) return false;
    try {
      await this.t.request(this.repo, {
        method: 'PUT',
        url: withQuery(await this.session(), 'digest', digest),
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(0),
        scopes: [pushScope(this.repo)],
        expect: [201],
      });
      return true;
    } catch (e) {
      this.failed = e as Error;
      return false;
    }
  }

  private session(): Promise<string> {
    this.location ??= this.t
      .request(this.repo, {
        method: 'POST',
        url: `${this.repo.repository}/blobs/uploads/`,
        scopes: [pushScope(this.repo)],
        expect: [202],
      })
      .then(locationOf);
    return this.location;
  }

  private async flush(): Promise<void> {
    const buffer = this.current!;
    const chunk = buffer.subarray(0, this.fill);
    this.current = undefined;
    this.fill = 0;
    while (this.pending >= this.queued && !this.failed) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failed) return;
    this.pending++;
    this.chain = this.chain.then(async () => {
      try {
        if (!this.failed) await this.patch(chunk);
      } catch (e) {
        this.failed = e as Error;
      } finally {
        // The PATCH is answered (and never resent), so its buffer is free again.
        this.free.push(buffer);
        this.pending--;
        this.waiters.shift()?.();
      }
    });
  }

  private async patch(chunk: Buffer): Promise<void> {
    const start = this.sent;
    const end = start + chunk.length;
    const res = await this.t.request(this.repo, {
      method: 'PATCH',
      url: await this.session(),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}` },
      body: chunk,
      scopes: [pushScope(this.repo)],
      expect: [202],
      retry: false,
      deadlineMs: deadlineFor(chunk.length),
    });
    if (received(res, end === 1 ? 1 : 0) !== end) throw rangeError(this.repo, 'a streamed blob', res, end);
    this.location = Promise.resolve(locationOf(res));
    this.sent = end;
    this.onSent?.(end);
  }
}
