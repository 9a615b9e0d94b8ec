import { randomInt } from 'node:crypto';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { isTransientRegistryError, RegistryError } from './errors.ts';
import type { HttpResponse } from './http.ts';
import { type Descriptor, MediaType } from './media-types.ts';
import { pullScope, pushScope, sleep, type Transport } from './transport.ts';

/** The tag-schema fallback for registries without the referrers API: `sha256-<hex>`. */
export function fallbackTag(subject: Digest): string {
  return subject.replace(':', '-');
}

/** A registry that paginates its referrers answers in pages; a chain longer than this is a loop. */
const MAX_PAGES = 1000;

/**
 * The OCI referrers protocol: the referrers API (paginated, followed by its
 * Link headers) where the registry has it, else the `sha256-<hex>` tag index,
 * kept by read-modify-write.
 */
export class Referrers {
  constructor(
    private readonly t: Transport,
    private readonly log: Logger,
    private readonly putManifest: (
      repo: Reference,
      bytes: Buffer,
      mediaType: string,
    ) => Promise<{ digest: Digest; res: HttpResponse }>,
  ) {}

  /** Artifacts whose subject is `subject`: the referrers API, else the `sha256-<hex>` tag index. */
  async list(repo: Reference, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    let url: string | undefined = `${repo.repository}/referrers/${subject}${query}`;
    const found: Descriptor[] = [];
    for (let page = 0; url; page++) {
      if (page >= MAX_PAGES)
        throw new RegistryError(
          `${repo.registry} gave more than ${MAX_PAGES} pages of referrers of ${subject}`,
          0,
          'TOO_LARGE',
        );
      const res = await this.t.request(repo, {
        method: 'GET',
        url,
        headers: { accept: MediaType.ociIndex },
        scopes: [pullScope(repo)],
        // The spec forbids 404 from a registry that has the API; distribution 2.8 answers 404 (or 405).
        expect: [200, 404, 405],
        what: 'a page of referrers',
      });
      const isApi =
        res.status === 200 && String(res.headers['content-type'] ?? '').includes(MediaType.ociIndex);
      if (!isApi) {
        if (page > 0) throw new RegistryError(`${repo.registry} broke off its referrers pages`, res.status);
        found.push(...(await this.readTagIndex(repo, subject)).manifests);
        break;
      }
      found.push(
        ...((parseJson(res, `the referrers of ${subject}`) as { manifests?: Descriptor[] }).manifests ?? []),
      );
      url = nextLink(res);
    }
    return artifactType ? found.filter((d) => d.artifactType === artifactType) : found;
  }

  private async readTagIndex(
    repo: Reference,
    subject: Digest,
  ): Promise<{ manifests: Descriptor[]; etag?: string }> {
    const res = await this.t.request(repo, {
      method: 'GET',
      url: `${repo.repository}/manifests/${fallbackTag(subject)}`,
      headers: { accept: MediaType.ociIndex },
      scopes: [pullScope(repo)],
      expect: [200, 404],
      what: 'a referrers tag index',
    });
    if (res.status === 404) return { manifests: [] };
    const json = parseJson(res, `the referrers tag ${fallbackTag(subject)}`) as { manifests?: Descriptor[] };
    const etag = res.headers['etag'];
    return { manifests: json.manifests ?? [], etag: typeof etag === 'string' ? etag : undefined };
  }

  /**
   * Pushes an artifact manifest that has a `subject`. A registry with the
   * referrers API says so with an OCI-Subject header; otherwise its descriptor
   * is added to the `sha256-<hex>` tag index, read-modify-write. Distribution
   * has no compare-and-swap for tags, so a writer may overwrite another's
   * addition: each writer re-reads until its entry has survived a read made
   * long enough after its write, and writes again (merging what is there)
   * when it has not.
   * A write is never resent as it was: after a failed one the index is read
   * again and merged, so a retry after a backoff cannot put back a stale index.
   */
  async push(repo: Reference, bytes: Buffer, mediaType: string): Promise<Digest> {
    return (await this.pushAll(repo, [{ bytes, mediaType }]))[0]!;
  }

  /**
   * Several artifact manifests of one subject, as `push` does one: every
   * manifest put first, then all their entries recorded together, so that a
   * tag index is written and confirmed once for all of them (the confirmation
   * takes at least 400 ms; one after another, it would take that per entry).
   */
  async pushAll(
    repo: Reference,
    items: readonly { bytes: Buffer; mediaType: string }[],
    /**
     * Called once, when the entries are first written or found listed (or a
     * write failed, or the call ends): the confirmation only waits and reads,
     * so other work can start.
     */
    written?: () => void,
  ): Promise<Digest[]> {
    let told = false;
    const tell = () => {
      if (!told && written) {
        told = true;
        written();
      }
    };
    try {
      return await this.record(repo, items, tell);
    } finally {
      tell();
    }
  }

  private async record(
    repo: Reference,
    items: readonly { bytes: Buffer; mediaType: string }[],
    written: () => void,
  ): Promise<Digest[]> {
    const parsed = items.map(({ bytes, mediaType }) => {
      const json = JSON.parse(bytes.toString('utf8')) as {
        subject?: Descriptor;
        artifactType?: string;
        config?: { mediaType?: string };
        annotations?: Record<string, string>;
      };
      if (!json.subject?.digest) throw new Error('pushReferrer: the manifest has no subject');
      return { bytes, mediaType, json, subject: json.subject.digest };
    });
    const subject = parsed[0]?.subject;
    if (!subject) return [];
    if (parsed.some((p) => p.subject !== subject))
      throw new Error('pushReferrers: the manifests refer to different subjects');
    const entries: Descriptor[] = [];
    let api = false;
    for (const { bytes, mediaType, json } of parsed) {
      const { digest, res } = await this.putManifest(repo, bytes, mediaType);
      if (res.headers['oci-subject']) api = true;
      if (entries.some((e) => e.digest === digest)) continue;
      entries.push({
        mediaType,
        digest,
        size: bytes.length,
        artifactType: json.artifactType ?? json.config?.mediaType,
        ...(json.annotations ? { annotations: json.annotations } : {}),
      });
    }
    const digests = entries.map((e) => e.digest);
    if (api) return digests;

    const ours = new Set(digests);
    const tag = fallbackTag(subject);
    const started = Date.now();
    let writes = 0;
    /** The longest read-then-write this writer has seen: other writers' writes take about as long. */
    let slowest = 0;
    let failures = 0;
    // A writer that read the index before our write landed can still write after it, without our
    // entries, as long after as its own read-to-write takes. So we are done when a read begun that
    // span after our last write (after our first read, when we have nothing to write) still lists
    // them; one read half way catches such a writer sooner. The span is at least 400 ms, longer
    // when the registry is slow (four times the slowest read-and-write we have seen, up to 5 s).
    let since = Date.now();
    for (let round = 0; round < 60; round++) {
      const readAt = Date.now();
      const current = await this.readTagIndex(repo, subject);
      const listed = new Set(current.manifests.map((d) => d.digest));
      const span = Math.min(5_000, Math.max(400, 4 * slowest));
      if (digests.every((d) => listed.has(d))) {
        written();
        if (readAt - since >= span) {
          this.log.debug(
            `RegistryClient.pushReferrer: ${digests.join(', ')} recorded in ${tag} in ${Date.now() - started} ms (${writes} writes; slowest read-and-write ${slowest} ms)`,
          );
          return digests;
        }
        const next = readAt - since < span / 2 ? since + span / 2 : since + span;
        await sleep(Math.max(0, next - Date.now()));
        continue;
      }
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: [...current.manifests.filter((d) => !ours.has(d.digest)), ...entries],
        }),
      );
      try {
        const write = await this.t.request(repo, {
          method: 'PUT',
          url: `${repo.repository}/manifests/${tag}`,
          // A registry with conditional writes refuses a stale index (412); distribution 2.8 ignores it.
          headers: {
            'content-type': MediaType.ociIndex,
            ...(current.etag ? { 'if-match': current.etag } : {}),
          },
          body: index,
          scopes: [pushScope(repo)],
          expect: [201, 412],
          retry: false,
        });
        writes++;
        if (write.status === 412) {
          this.log.debug('RegistryClient.pushReferrer: the tag index changed under us; again');
          // Apart from the writer that got in first, so as not to meet it again at once.
          await sleep(20 + randomInt(80));
          continue;
        }
      } catch (e) {
        if (!isTransientRegistryError(e) || ++failures >= this.t.retry.attempts) throw e;
        // A write that failed on the way back may have landed: the span counts from here too. And
        // what waits for this one need not wait through the backoff.
        since = Date.now();
        written();
        await this.t.backoff(failures, `PUT ${tag}: ${e.message}`, e.retryAfterMs);
        continue;
      }
      since = Date.now();
      slowest = Math.max(slowest, since - readAt);
      written();
      // Writers that replace each other's entries meet again at the half-way read, a random
      // moment apart, and merge.
      await sleep(Math.min(5_000, Math.max(400, 4 * slowest)) / 2 + randomInt(50));
    }
    throw new RegistryError(
      `could not record ${digests.join(', ')} in the referrers tag ${tag} of ${repo.name}: other writers kept replacing it`,
      0,
      'CONFLICT',
      'Retry the step',
    );
  }
}

/** The next page named by a Link header (RFC 8288, rel="next"), relative to the page it came with. */
export function nextLink(res: Pick<HttpResponse, 'headers' | 'url'>): string | undefined {
  const header = String(res.headers['link'] ?? '');
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]+)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel="?next"?\s*(?:;|$)/.test(m[2]!)) return new URL(m[1]!, res.url).toString();
  }
  return undefined;
}

function parseJson(res: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new RegistryError(`${what} is not JSON`, res.status, 'MANIFEST_INVALID');
  }
}
