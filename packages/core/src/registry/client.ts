import { createHash, randomInt } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { Logger } from '../log/index.ts';
import { silentLogger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { Authenticator } from './auth.ts';
import { type CredentialMap, CredentialStore } from './credentials.ts';
import { DigestMismatchError, describeRegistryErrors, RegistryError } from './errors.ts';
import { type Body, type HttpResponse, isTransientNetworkError, send } from './http.ts';
import { MANIFEST_ACCEPT, MediaType } from './media-types.ts';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Manifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: manifests are validated by their users
  json: any;
}

export interface RetryOptions {
  /** Attempts per request, the first included. */
  attempts: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export interface RegistryClientOptions {
  log?: Logger;
  /** Credentials from inputs, by registry host; the docker config is the fallback. */
  credentials?: CredentialMap;
  /** Path of a docker config.json (default: $DOCKER_CONFIG or ~/.docker). */
  dockerConfig?: string;
  retry?: Partial<RetryOptions>;
  /** Blobs larger than this are uploaded in chunks of this size, resumable. */
  chunkSize?: number;
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Plain HTTP for loopback registries (as docker treats them), and hosts listed in ANEW_INSECURE_REGISTRIES. */
export function registryScheme(registry: string, env: NodeJS.ProcessEnv = process.env): 'http' | 'https' {
  const host = registry.replace(/:\d+$/, '');
  if (host === 'localhost' || host === '[::1]' || /^127\./.test(host)) return 'http';
  const insecure = (env['ANEW_INSECURE_REGISTRIES'] ?? '').split(',').map((s) => s.trim());
  return insecure.includes(registry) ? 'http' : 'https';
}

type Scope = string;
const pull = (repo: Reference): Scope => `repository:${repo.repository}:pull`;
const push = (repo: Reference): Scope => `repository:${repo.repository}:pull,push`;

interface Call {
  method: string;
  /** Absolute URL, or a path below the registry's /v2/. */
  url: string;
  headers?: Record<string, string>;
  body?: Body;
  scopes: Scope[];
  /** Statuses the caller handles; anything else that is not retried throws. */
  expect: number[];
  /** Checked after each response; a DigestMismatchError is retried like a network fault. */
  verify?: (res: HttpResponse) => void;
  /**
   * For uploads named by their digest: the registry's DIGEST_INVALID means the
   * bytes it received do not hash to what we computed from the bytes we sent,
   * so they were damaged on the way (seen under load on distribution 2.8).
   * That is retried like corruption on a read, not reported as the user's mistake.
   */
  uploadByDigest?: boolean;
}

/**
 * An OCI distribution client. It trusts only what it hashes itself: every
 * blob and manifest read is checked against the digest asked for, and the
 * digest of a manifest read by tag is computed from its bytes, never taken
 * from a header. Transient faults (429, 5xx, dropped connections, truncated
 * or corrupted bodies) are retried with backoff, honouring Retry-After;
 * permanent answers fail at once with the registry's error code.
 */
export class RegistryClient {
  private readonly log: Logger;
  private readonly auth: Authenticator;
  private readonly retry: RetryOptions;
  private readonly chunkSize: number;

  constructor(opts: RegistryClientOptions = {}) {
    this.log = opts.log ?? silentLogger;
    for (const c of Object.values(opts.credentials ?? {})) this.log.setSecret(c.password);
    this.auth = new Authenticator(new CredentialStore(opts.credentials, opts.dockerConfig), this.log);
    this.retry = { attempts: 6, minDelayMs: 200, maxDelayMs: 8_000, ...opts.retry };
    this.chunkSize = opts.chunkSize ?? 32 * 1024 * 1024;
  }

  private base(repo: Reference): string {
    return `${registryScheme(repo.registry)}://${repo.apiHost}/v2/`;
  }

  private async call(repo: Reference, c: Call): Promise<HttpResponse> {
    let url = /^https?:\/\//.test(c.url) ? c.url : this.base(repo) + c.url;
    let authRetried = false;
    let redirects = 0;
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse;
      try {
        const authHeader = await this.auth.header(repo.registry, c.scopes);
        // Registries redirect blob reads to storage that must not see our token.
        const sameHost = new URL(url).host === repo.apiHost;
        res = await send({
          method: c.method,
          url,
          headers: { ...(authHeader && sameHost ? { authorization: authHeader } : {}), ...c.headers },
          body: c.body,
        });
        if ([301, 302, 303, 307, 308].includes(res.status) && res.headers.location && redirects++ < 5) {
          url = new URL(res.headers.location, url).toString();
          attempt--;
          continue;
        }
        if (res.status === 401 && !authRetried) {
          authRetried = true;
          await this.auth.challenge(repo.registry, String(res.headers['www-authenticate'] ?? ''), c.scopes);
          attempt--;
          continue;
        }
        if (c.expect.includes(res.status)) {
          c.verify?.(res);
          return res;
        }
        if (
          c.uploadByDigest &&
          res.status === 400 &&
          describeRegistryErrors(res.body).code === 'DIGEST_INVALID'
        ) {
          throw new DigestMismatchError(
            `${repo.registry} received other bytes than were sent for ${shortUrl(url)}`,
          );
        }
        if (res.status !== 429 && res.status < 500) throw this.permanent(repo, c, res);
        if (attempt >= this.retry.attempts) throw this.permanent(repo, c, res);
        await this.backoff(attempt, `${c.method} ${shortUrl(url)}: ${res.status}`, retryAfter(res));
      } catch (e) {
        const transient = isTransientNetworkError(e) || e instanceof DigestMismatchError;
        if (!transient) throw e;
        if (attempt >= this.retry.attempts) {
          if (e instanceof DigestMismatchError) {
            throw new RegistryError(`${e.message}; refused after ${attempt} attempts`, 0, 'DIGEST_MISMATCH');
          }
          throw new RegistryError(
            `${repo.registry} did not answer ${c.method} ${shortUrl(url)} after ${attempt} attempts: ${(e as Error).message}`,
            0,
            'UNREACHABLE',
            'Check that the registry is up and reachable',
          );
        }
        await this.backoff(attempt, `${c.method} ${shortUrl(url)}: ${(e as Error).message}`);
      }
    }
  }

  private permanent(repo: Reference, c: Call, res: HttpResponse): RegistryError {
    const described = describeRegistryErrors(res.body);
    const { message } = described;
    // A HEAD has no body to name the error; the status still does.
    const code = described.code ?? { 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'NOT_FOUND' }[res.status];
    const what = `${repo.registry} answered ${c.method} ${shortUrl(res.url)} with ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
    let hint: string | undefined;
    if (res.status === 401)
      hint =
        'Check the credentials, or log in first (docker/login-action, docker login) or pass registry-username and registry-password';
    else if (res.status === 403)
      hint = `The credentials for ${repo.registry} may not push to ${repo.repository}`;
    else if (code === 'NAME_UNKNOWN') hint = `Check the repository name ${repo.name}`;
    return new RegistryError(what, res.status, code, hint);
  }

  private async backoff(attempt: number, why: string, retryAfterMs?: number): Promise<void> {
    const exp = Math.min(this.retry.maxDelayMs, this.retry.minDelayMs * 2 ** (attempt - 1));
    // "Equal jitter": at least half the exponential step, so retries spread out but still back off.
    const half = Math.max(1, Math.ceil(exp / 2));
    const delay = retryAfterMs !== undefined ? Math.min(retryAfterMs, 30_000) : half + randomInt(half);
    this.log.debug(
      `RegistryClient: retry ${attempt}/${this.retry.attempts - 1} in ${Math.round(delay)} ms after ${why}`,
    );
    await sleep(delay);
  }

  // --- blobs ----------------------------------------------------------------

  async blobExists(repo: Reference, digest: Digest): Promise<boolean> {
    const res = await this.call(repo, {
      method: 'HEAD',
      url: `${repo.repository}/blobs/${digest}`,
      scopes: [pull(repo)],
      expect: [200, 404],
    });
    return res.status === 200;
  }

  async getBlob(repo: Reference, digest: Digest, expectedSize?: number): Promise<Buffer> {
    const res = await this.call(repo, {
      method: 'GET',
      url: `${repo.repository}/blobs/${digest}`,
      scopes: [pull(repo)],
      expect: [200],
      verify: (r) => checkContent(r.body, digest, expectedSize, `blob from ${repo.name}`),
    });
    return res.body;
  }

  async pushBlob(
    repo: Reference,
    data: Buffer,
    opts: { mountFrom?: Reference[] } = {},
  ): Promise<{ digest: Digest; size: number; uploaded: boolean }> {
    const digest = sha256(data);
    const uploaded = await this.upload(
      repo,
      digest,
      data.length,
      async () => (start, end) => data.subarray(start, end),
      opts.mountFrom,
    );
    return { digest, size: data.length, uploaded };
  }

  async pushBlobFile(
    repo: Reference,
    file: string,
    digest: Digest,
    size: number,
    opts: { mountFrom?: Reference[] } = {},
  ): Promise<{ uploaded: boolean }> {
    const slice = (start: number, end: number): Body => ({
      size: end - start,
      open: (): Readable => fs.createReadStream(file, { start, end: end - 1 }),
    });
    return { uploaded: await this.upload(repo, digest, size, async () => slice, opts.mountFrom) };
  }

  /**
   * A blob from one repository into another: nothing when it is there, a
   * cross-repository mount on the same registry, else read (verified) and
   * uploaded. Only the last moves bytes.
   */
  async copyBlob(
    from: Reference,
    to: Reference,
    blob: { digest: Digest; size: number },
  ): Promise<'present' | 'mounted' | 'copied'> {
    if (from.registry === to.registry && from.repository === to.repository) return 'present';
    if (await this.blobExists(to, blob.digest)) return 'present';
    const uploaded = await this.upload(
      to,
      blob.digest,
      blob.size,
      async () => {
        const data = await this.getBlob(from, blob.digest, blob.size);
        return (start, end) => data.subarray(start, end);
      },
      [from],
      true,
    );
    return uploaded ? 'copied' : 'mounted';
  }

  /** Returns true when bytes were sent; false when the registry had the blob or mounted it. */
  private async upload(
    repo: Reference,
    digest: Digest,
    size: number,
    /** The content, fetched only when neither the registry has it nor a mount gives it. */
    content: () => Promise<(start: number, end: number) => Body>,
    mountFrom: Reference[] = [],
    existenceChecked = false,
  ): Promise<boolean> {
    if (!existenceChecked && (await this.blobExists(repo, digest))) return false;
    let location: string | undefined;
    for (const from of mountFrom) {
      if (from.registry !== repo.registry || from.repository === repo.repository) continue;
      const res = await this.call(repo, {
        method: 'POST',
        url: `${repo.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.repository)}`,
        scopes: [push(repo), pull(from)],
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
    const slice = await content();
    // A monolithic PUT cannot resume; when one fails after its retries, start a fresh session.
    for (let session = 1; ; session++) {
      location ??= await this.startUpload(repo);
      try {
        if (size <= this.chunkSize) await this.putMonolithic(repo, location, digest, slice(0, size));
        else await this.putChunked(repo, location, digest, size, slice);
        return true;
      } catch (e) {
        // The registry drops a session whose content arrived damaged (DIGEST_INVALID), so that too starts over.
        const again = e instanceof RegistryError && (e.code === 'UNREACHABLE' || e.code === 'DIGEST_INVALID');
        if (session >= 3 || !again) throw e;
        this.log.debug(`RegistryClient.upload: restarting the upload of ${digest}: ${e.message}`);
        location = undefined;
      }
    }
  }

  private async startUpload(repo: Reference): Promise<string> {
    const res = await this.call(repo, {
      method: 'POST',
      url: `${repo.repository}/blobs/uploads/`,
      scopes: [push(repo)],
      expect: [202],
    });
    return locationOf(res);
  }

  private async putMonolithic(repo: Reference, location: string, digest: Digest, body: Body): Promise<void> {
    await this.call(repo, {
      method: 'PUT',
      url: withQuery(location, 'digest', digest),
      headers: { 'content-type': 'application/octet-stream' },
      body,
      scopes: [push(repo)],
      expect: [201],
    });
  }

  /**
   * PATCH in chunks; after a dropped connection, ask the registry how much it
   * has (GET on the upload's Location gives Range: 0-N) and go on from there.
   */
  private async putChunked(
    repo: Reference,
    location: string,
    digest: Digest,
    size: number,
    slice: (start: number, end: number) => Body,
  ): Promise<void> {
    let offset = 0;
    let failures = 0;
    while (offset < size) {
      const end = Math.min(size, offset + this.chunkSize);
      try {
        const res = await send({
          method: 'PATCH',
          url: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${offset}-${end - 1}`,
            ...(await this.authHeaders(repo, [push(repo)])),
          },
          body: slice(offset, end),
        });
        if (res.status !== 202) {
          if (res.status === 429 || res.status >= 500)
            throw Object.assign(new Error(`${res.status}`), { code: 'ECONNRESET' });
          throw this.permanent(repo, { method: 'PATCH', url: location, scopes: [], expect: [202] }, res);
        }
        location = locationOf(res);
        offset = end;
        failures = 0;
      } catch (e) {
        if (!isTransientNetworkError(e) || ++failures >= this.retry.attempts) throw e;
        await this.backoff(failures, `PATCH chunk at ${offset}: ${(e as Error).message}`);
        const status = await this.call(repo, {
          method: 'GET',
          url: location,
          scopes: [push(repo)],
          expect: [204],
        });
        location = locationOf(status);
        const range = /^(?:bytes=)?0-(\d+)$/.exec(String(status.headers['range'] ?? ''));
        offset = range ? Number(range[1]) + 1 : 0;
        this.log.debug(`RegistryClient.putChunked: resuming ${digest} at byte ${offset}`);
      }
    }
    await this.call(repo, {
      method: 'PUT',
      url: withQuery(location, 'digest', digest),
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(0),
      scopes: [push(repo)],
      expect: [201],
    });
  }

  private async authHeaders(repo: Reference, scopes: Scope[]): Promise<Record<string, string>> {
    const h = await this.auth.header(repo.registry, scopes);
    return h ? { authorization: h } : {};
  }

  // --- manifests ------------------------------------------------------------

  /** Reads a manifest by tag or digest; by digest, the bytes must hash to it. */
  async getManifest(ref: Reference, accept: readonly string[] = MANIFEST_ACCEPT): Promise<Manifest> {
    const res = await this.call(ref, {
      method: 'GET',
      url: `${ref.repository}/manifests/${ref.apiReference}`,
      headers: { accept: accept.join(', ') },
      scopes: [pull(ref)],
      expect: [200],
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

  /** Resolves a tag (or checks a digest); undefined when it does not exist. */
  async resolve(ref: Reference): Promise<{ digest: Digest; mediaType: string; size: number } | undefined> {
    const res = await this.call(ref, {
      method: 'GET',
      url: `${ref.repository}/manifests/${ref.apiReference}`,
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [pull(ref)],
      expect: [200, 404],
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
    const res = await this.call(repo, {
      method: 'PUT',
      url: `${repo.repository}/manifests/${reference ?? digest}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [push(repo)],
      expect: [201],
      uploadByDigest: reference === undefined,
    });
    return { digest, res };
  }

  async listTags(repo: Reference): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `${repo.repository}/tags/list?n=1000`;
    while (url) {
      const res = await this.call(repo, { method: 'GET', url, scopes: [pull(repo)], expect: [200, 404] });
      if (res.status === 404) return [];
      tags.push(...((JSON.parse(res.body.toString('utf8')) as { tags?: string[] | null }).tags ?? []));
      const link = /<([^>]+)>;\s*rel="next"/.exec(String(res.headers['link'] ?? ''));
      url = link ? new URL(link[1]!, this.base(repo)).toString() : undefined;
    }
    return tags;
  }

  // --- referrers ------------------------------------------------------------

  /** Artifacts whose subject is `subject`: the referrers API, else the `sha256-<hex>` tag index. */
  async referrers(repo: Reference, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    const res = await this.call(repo, {
      method: 'GET',
      url: `${repo.repository}/referrers/${subject}${query}`,
      headers: { accept: MediaType.ociIndex },
      scopes: [pull(repo)],
      // The spec forbids 404 from a registry that has the API; distribution 2.8 answers 404 (or 405).
      expect: [200, 404, 405],
    });
    let found: Descriptor[];
    if (res.status === 200 && String(res.headers['content-type'] ?? '').includes(MediaType.ociIndex)) {
      found = (JSON.parse(res.body.toString('utf8')) as { manifests?: Descriptor[] }).manifests ?? [];
    } else {
      found = (await this.readTagIndex(repo, subject)).manifests;
    }
    return artifactType ? found.filter((d) => d.artifactType === artifactType) : found;
  }

  private async readTagIndex(
    repo: Reference,
    subject: Digest,
  ): Promise<{ manifests: Descriptor[]; etag?: string }> {
    const ref = repo.withTag(fallbackTag(subject));
    const res = await this.call(ref, {
      method: 'GET',
      url: `${repo.repository}/manifests/${ref.tag}`,
      headers: { accept: MediaType.ociIndex },
      scopes: [pull(repo)],
      expect: [200, 404],
    });
    if (res.status === 404) return { manifests: [] };
    const json = this.toManifest(ref, res).json as { manifests?: Descriptor[] };
    const etag = res.headers['etag'];
    return { manifests: json.manifests ?? [], etag: typeof etag === 'string' ? etag : undefined };
  }

  /**
   * Pushes an artifact manifest that has a `subject`. A registry with the
   * referrers API says so with an OCI-Subject header; otherwise its descriptor
   * is added to the `sha256-<hex>` tag index, read-modify-write. Distribution
   * has no compare-and-swap for tags, so a writer may overwrite another's
   * addition: each writer re-reads until its entry has survived several reads
   * spread over time, and writes again (merging what is there) when it has not.
   */
  async pushReferrer(repo: Reference, bytes: Buffer, mediaType: string): Promise<Digest> {
    const json = JSON.parse(bytes.toString('utf8')) as {
      subject?: Descriptor;
      artifactType?: string;
      config?: { mediaType?: string };
      annotations?: Record<string, string>;
    };
    if (!json.subject?.digest) throw new Error('pushReferrer: the manifest has no subject');
    const { digest, res } = await this.putManifestRaw(repo, bytes, mediaType);
    if (res.headers['oci-subject']) return digest;

    const entry: Descriptor = {
      mediaType,
      digest,
      size: bytes.length,
      artifactType: json.artifactType ?? json.config?.mediaType,
      ...(json.annotations ? { annotations: json.annotations } : {}),
    };
    const tag = fallbackTag(json.subject.digest);
    let confirmations = 0;
    for (let round = 0; round < 60; round++) {
      const current = await this.readTagIndex(repo, json.subject.digest);
      if (current.manifests.some((d) => d.digest === digest)) {
        if (++confirmations >= 3) return digest;
        await sleep(60 + randomInt(140));
        continue;
      }
      confirmations = 0;
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: [...current.manifests, entry],
        }),
      );
      const write = await this.call(repo, {
        method: 'PUT',
        url: `${repo.repository}/manifests/${tag}`,
        headers: {
          'content-type': MediaType.ociIndex,
          ...(current.etag ? { 'if-match': current.etag } : {}),
        },
        body: index,
        scopes: [push(repo)],
        expect: [201, 412],
      });
      if (write.status === 412)
        this.log.debug('RegistryClient.pushReferrer: the tag index changed under us; again');
      await sleep(20 + randomInt(80));
    }
    throw new RegistryError(
      `could not record ${digest} in the referrers tag ${tag} of ${repo.name}: other writers kept replacing it`,
      0,
      'CONFLICT',
      'Retry the step',
    );
  }
}

/** The tag-schema fallback for registries without the referrers API: `sha256-<hex>`. */
export function fallbackTag(subject: Digest): string {
  return subject.replace(':', '-');
}

function checkContent(body: Buffer, digest: Digest, size: number | undefined, what: string): void {
  if (size !== undefined && body.length !== size) {
    throw new DigestMismatchError(`${what} has ${body.length} bytes, expected ${size} (${digest})`);
  }
  const algorithm = digest.slice(0, digest.indexOf(':'));
  const got = `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
  if (got !== digest) throw new DigestMismatchError(`${what} hashes to ${got}, not ${digest}`);
}

function locationOf(res: HttpResponse): string {
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

function retryAfter(res: HttpResponse): number | undefined {
  const v = res.headers['retry-after'];
  if (typeof v !== 'string') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const when = Date.parse(v);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

function shortUrl(url: string): string {
  const u = new URL(url);
  return u.pathname.length > 80 ? `${u.pathname.slice(0, 77)}…` : u.pathname;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
