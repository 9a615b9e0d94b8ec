import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { Logger } from '../log/index.ts';
import { silentLogger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { Authenticator } from './auth.ts';
import { BlobReader } from './blob-reader.ts';
import { type CredentialMap, CredentialStore } from './credentials.ts';
import { DigestMismatchError, RegistryError } from './errors.ts';
import { type Body, type HttpResponse, MiB } from './http.ts';
import { type Descriptor, MANIFEST_ACCEPT } from './media-types.ts';
import { nextLink, Referrers } from './referrers.ts';
import {
  DOCUMENT_LIMIT,
  deadlineFor,
  pullScope,
  pushScope,
  type RetryOptions,
  Transport,
} from './transport.ts';
import type { BlobSource } from './upload.ts';
import { StreamedUpload, Uploader } from './upload.ts';

export type { Descriptor, Platform } from './media-types.ts';
export { fallbackTag } from './referrers.ts';
export { type RetryOptions, registryScheme } from './transport.ts';

export interface Manifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: manifests are validated by their users
  json: any;
}

export interface RegistryClientOptions {
  log?: Logger;
  /** Credentials from inputs, by registry host; the docker config is the fallback. */
  credentials?: CredentialMap;
  /** Path of a docker config.json (default: $DOCKER_CONFIG or ~/.docker). */
  dockerConfig?: string;
  /** A store already used by the caller, so a credential helper runs once per registry per run. */
  credentialStore?: CredentialStore;
  retry?: Partial<RetryOptions>;
  /** Blobs larger than this are uploaded in chunks of this size, resumable. */
  chunkSize?: number;
}

/** A blob read whole into memory without a size to hold it to is refused above this. */
const UNSIZED_BLOB_LIMIT = 32 * MiB;

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * An OCI distribution client: a façade over the transport (the one request
 * path: credentials, redirects, retries, limits), the upload protocol and the
 * referrers protocol. It trusts only what it hashes itself: every blob and
 * manifest read is checked against the digest asked for, and the digest of
 * a manifest read by tag is computed from its bytes, never taken from a
 * header (only `resolve` names a digest from a HEAD's header, and whatever
 * reads that digest's content checks it).
 */
export class RegistryClient {
  private readonly log: Logger;
  private readonly t: Transport;
  private readonly uploads: Uploader;
  private readonly chunkSize: number;
  private readonly refs: Referrers;

  constructor(opts: RegistryClientOptions = {}) {
    this.log = opts.log ?? silentLogger;
    for (const c of Object.values(opts.credentials ?? {})) this.log.setSecret(c.password);
    const store = opts.credentialStore ?? new CredentialStore(opts.credentials, opts.dockerConfig);
    this.t = new Transport(new Authenticator(store, this.log), this.log, {
      attempts: 6,
      minDelayMs: 200,
      maxDelayMs: 8_000,
      ...opts.retry,
    });
    this.chunkSize = opts.chunkSize ?? 32 * MiB;
    this.uploads = new Uploader(this.t, this.log, this.chunkSize);
    this.refs = new Referrers(this.t, this.log, (repo, bytes, mediaType) =>
      this.putManifestRaw(repo, bytes, mediaType),
    );
  }

  // --- blobs ----------------------------------------------------------------

  blobExists(repo: Reference, digest: Digest): Promise<boolean> {
    return this.uploads.exists(repo, digest);
  }

  /**
   * A blob read whole into memory (configs, attestation bundles): at most
   * its descriptor's size, or 32 MiB without one. Layers are copied with
   * `copyBlob`, which streams.
   */
  async getBlob(repo: Reference, digest: Digest, expectedSize?: number): Promise<Buffer> {
    const res = await this.t.request(repo, {
      method: 'GET',
      url: `${repo.repository}/blobs/${digest}`,
      scopes: [pullScope(repo)],
      expect: [200],
      limit: expectedSize ?? UNSIZED_BLOB_LIMIT,
      what: expectedSize !== undefined ? `blob ${digest} by its descriptor` : 'a blob read without its size',
      deadlineMs: deadlineFor(expectedSize ?? UNSIZED_BLOB_LIMIT),
      verify: (r) => checkContent(r.body, digest, expectedSize, `blob from ${repo.name}`),
    });
    return res.body;
  }

  /**
   * A blob read a piece at a time, never whole (a base layer can be hundreds
   * of MB): hashed as it passes, resumed after a dropped connection, and the
   * last piece held back unless the whole hashes to the digest.
   */
  async *readBlob(repo: Reference, digest: Digest, size: number): AsyncGenerator<Buffer> {
    const reader = new BlobReader(this.t, repo, digest, size);
    try {
      const body = (await reader.slice(0, size)) as Exclude<Body, Buffer>;
      for await (const piece of body.open()) yield piece as Buffer;
      reader.finish();
    } finally {
      reader.close();
    }
  }

  async pushBlob(
    repo: Reference,
    data: Buffer,
    opts: { mountFrom?: Reference[] } = {},
  ): Promise<{ digest: Digest; size: number; uploaded: boolean }> {
    const digest = sha256(data);
    const source: BlobSource = { slice: async (start, end) => data.subarray(start, end) };
    const uploaded = await this.uploads.upload(repo, digest, data.length, async () => source, opts.mountFrom);
    return { digest, size: data.length, uploaded };
  }

  async pushBlobFile(
    repo: Reference,
    file: string,
    digest: Digest,
    size: number,
    opts: { mountFrom?: Reference[]; progress?: (sent: number) => void } = {},
  ): Promise<{ uploaded: boolean }> {
    const source: BlobSource = {
      slice: async (start, end): Promise<Body> => {
        // Chunks go in order: when the next is asked for, the one before has arrived.
        opts.progress?.(start);
        return {
          size: end - start,
          open: (): Readable => fs.createReadStream(file, { start, end: end - 1 }),
        };
      },
    };
    const uploaded = await this.uploads.upload(repo, digest, size, async () => source, opts.mountFrom);
    if (uploaded) opts.progress?.(size);
    return { uploaded };
  }

  /**
   * An upload fed while the blob is still being made (see StreamedUpload):
   * chunks of up to 8 MiB, so the first bytes leave soon after they are made.
   */
  streamBlob(repo: Reference, onSent?: (bytes: number) => void): StreamedUpload {
    return new StreamedUpload(this.t, repo, Math.min(this.chunkSize, 8 * MiB), 2, onSent);
  }

  /**
   * A blob from one repository into another: nothing when it is there, a
   * cross-repository mount on the same registry, else streamed from one to
   * the other a chunk at a time, hashed as it passes: a blob that does not
   * hash to its digest is refused before the upload is committed, and no
   * more than a chunk or two is ever held in memory. `exists` is what a
   * `blobExists` at the destination said just before, when the caller asked
   * already (promote asks while the policy is checked), so it is not asked twice.
   */
  async copyBlob(
    from: Reference,
    to: Reference,
    blob: { digest: Digest; size: number },
    exists?: boolean,
  ): Promise<'present' | 'mounted' | 'copied'> {
    if (from.registry === to.registry && from.repository === to.repository) return 'present';
    if (exists ?? (await this.blobExists(to, blob.digest))) return 'present';
    let reader: BlobReader | undefined;
    try {
      const uploaded = await this.uploads.upload(
        to,
        blob.digest,
        blob.size,
        async () => {
          reader?.close();
          reader = new BlobReader(this.t, from, blob.digest, blob.size);
          return reader;
        },
        [from],
        true,
      );
      return uploaded ? 'copied' : 'mounted';
    } finally {
      reader?.close();
    }
  }

  // --- manifests ------------------------------------------------------------

  /** Reads a manifest by tag or digest; by digest, the bytes must hash to it. */
  async getManifest(ref: Reference, accept: readonly string[] = MANIFEST_ACCEPT): Promise<Manifest> {
    const res = await this.t.request(ref, {
      method: 'GET',
      url: `${ref.repository}/manifests/${ref.apiReference}`,
      headers: { accept: accept.join(', ') },
      scopes: [pullScope(ref)],
      expect: [200],
      what: 'a manifest',
      verify: (r) => {
        if (ref.digest) checkContent(r.body, ref.digest, undefined, `manifest ${ref}`);
      },
    });
    return this.toManifest(ref, res);
  }

  private toManifest(ref: Reference, res: HttpResponse): Manifest {
    const digest = sha256(res.body);
    const header = res.headers['docker-content-digest'];
    if (header && header !== digest) {
      this.log.debug(
        `RegistryClient: ${ref} claims ${header}; its bytes hash to ${digest}, which is what counts`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new RegistryError(`manifest ${ref} is not JSON`, res.status, 'MANIFEST_INVALID');
    }
    const mediaType =
      (json as { mediaType?: string }).mediaType ??
      String(res.headers['content-type'] ?? '').split(';')[0] ??
      '';
    return { digest, mediaType, bytes: res.body, json };
  }

  /**
   * Resolves a tag (or checks a digest); undefined when it does not exist.
   * A HEAD first, as docker and containerd do (a GET counts against pull
   * limits); a GET, hashed, only when the HEAD names no digest.
   */
  async resolve(ref: Reference): Promise<{ digest: Digest; mediaType: string; size: number } | undefined> {
    const url = `${ref.repository}/manifests/${ref.apiReference}`;
    const headers = { accept: MANIFEST_ACCEPT.join(', ') };
    const head = await this.t.request(ref, {
      method: 'HEAD',
      url,
      headers,
      scopes: [pullScope(ref)],
      expect: [200, 404],
    });
    if (head.status === 404) return undefined;
    const named = head.headers['docker-content-digest'];
    const length = Number(head.headers['content-length']);
    const mediaType = String(head.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    if (
      typeof named === 'string' &&
      /^sha256:[a-f0-9]{64}$/.test(named) &&
      (!ref.digest || named === ref.digest) &&
      Number.isSafeInteger(length) &&
      mediaType
    )
      return { digest: named as Digest, mediaType, size: length };
    const res = await this.t.request(ref, {
      method: 'GET',
      url,
      headers,
      scopes: [pullScope(ref)],
      expect: [200, 404],
      what: 'a manifest',
      verify: (r) => {
        if (r.status === 200 && ref.digest) checkContent(r.body, ref.digest, undefined, `manifest ${ref}`);
      },
    });
    if (res.status === 404) return undefined;
    const m = this.toManifest(ref, res);
    return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  }

  async putManifest(repo: Reference, bytes: Buffer, mediaType: string, reference?: string): Promise<Digest> {
    return (await this.putManifestRaw(repo, bytes, mediaType, reference)).digest;
  }

  private async putManifestRaw(repo: Reference, bytes: Buffer, mediaType: string, reference?: string) {
    const digest = sha256(bytes);
    const res = await this.t.request(repo, {
      method: 'PUT',
      url: `${repo.repository}/manifests/${reference ?? digest}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [pushScope(repo)],
      expect: [201],
      uploadByDigest: reference === undefined,
    });
    return { digest, res };
  }

  async listTags(repo: Reference): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `${repo.repository}/tags/list?n=1000`;
    for (let page = 0; url; page++) {
      if (page >= 1000) throw new RegistryError(`${repo.registry} gave more than 1000 pages of tags`, 0);
      const res = await this.t.request(repo, {
        method: 'GET',
        url,
        scopes: [pullScope(repo)],
        expect: [200, 404],
        limit: DOCUMENT_LIMIT,
        what: 'a page of tags',
      });
      if (res.status === 404) return [];
      tags.push(...((JSON.parse(res.body.toString('utf8')) as { tags?: string[] | null }).tags ?? []));
      url = nextLink(res);
    }
    return tags;
  }

  // --- referrers ------------------------------------------------------------

  /** Artifacts whose subject is `subject`: the referrers API (every page), else the `sha256-<hex>` tag index. */
  referrers(repo: Reference, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    return this.refs.list(repo, subject, artifactType);
  }

  /** Pushes an artifact manifest with a `subject`, recorded in the tag index where the registry has no referrers API. */
  pushReferrer(repo: Reference, bytes: Buffer, mediaType: string): Promise<Digest> {
    return this.refs.push(repo, bytes, mediaType);
  }

  /** Several artifact manifests of one subject, recorded together (one tag-index write and confirmation for all). */
  pushReferrers(
    repo: Reference,
    manifests: readonly { bytes: Buffer; mediaType: string }[],
    /** Called once they are recorded, before the tag index's confirmation (see Referrers.pushAll). */
    written?: () => void,
  ): Promise<Digest[]> {
    return this.refs.pushAll(repo, manifests, written);
  }
}

function checkContent(body: Buffer, digest: Digest, size: number | undefined, what: string): void {
  if (size !== undefined && body.length !== size) {
    throw new DigestMismatchError(`${what} has ${body.length} bytes, expected ${size} (${digest})`);
  }
  const algorithm = digest.slice(0, digest.indexOf(':'));
  const got = `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
  if (got !== digest) throw new DigestMismatchError(`${what} hashes to ${got}, not ${digest}`);
}
