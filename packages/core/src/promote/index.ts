import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { type Descriptor, isIndex, type Manifest, type RegistryClient } from '../registry/index.ts';

/**
 * Promotion: an image copied whole, at the same digest, from one repository
 * to another (same registry or another), with the artifacts that refer to it
 * (attestations, signatures). Everything is read first; then the writes go in
 * an order that never leaves a reference to missing content: blobs, then the
 * manifests that name them (platform manifests before their index), and
 * each referrer whole before it is recorded; the tags last. A run cut off
 * anywhere leaves at most unreferenced blobs, untagged manifests and
 * attestations of a manifest not there yet, and the next run completes it.
 */

export interface PromoteOptions {
  from: Reference & { digest: Digest };
  /** Destination repository (its tag or digest, if any, is ignored). */
  to: Reference;
  /** Tags written at the destination once everything else is there. */
  tags: readonly string[];
  /** Blobs copied at once. */
  concurrency?: number;
}

export interface BlobCounts {
  count: number;
  bytes: number;
}

export interface PromoteResult {
  image: Reference & { digest: Digest };
  digest: Digest;
  /** Streamed from the source registry. */
  copied: BlobCounts;
  /** Mounted from the source repository (same registry): no bytes sent. */
  mounted: BlobCounts;
  /** Already at the destination. */
  skipped: BlobCounts;
  /** Image manifests and indexes written (the image and every platform). */
  manifests: number;
  /** Referrers (attestations, signatures) recorded at the destination. */
  referrers: number;
  /** Referrers the destination already listed. */
  referrersPresent: number;
  tags: string[];
}

/** A manifest read from the source, with what it needs at the destination before it can be written. */
interface Node {
  manifest: Manifest;
  blobs: Descriptor[];
  /** Manifests an index names: written before it. */
  children: Node[];
  /** Artifacts whose subject is this manifest: written after it. */
  referrers: Node[];
}

/** Referrers of referrers (a signature on an attestation) are followed this deep. */
const REFERRER_DEPTH = 2;
/** An index that names more manifests than this is refused rather than walked. */
const MAX_MANIFESTS = 1000;

export async function promoteImage(
  client: RegistryClient,
  o: PromoteOptions,
  log: Logger,
): Promise<PromoteResult> {
  const from = o.from.repo;
  const to = o.to.repo;
  const seen = new Set<Digest>();

  const read = async (digest: Digest, depth: number): Promise<Node> => {
    if (seen.size >= MAX_MANIFESTS)
      throw new UserError(
        `${o.from} names more than ${MAX_MANIFESTS} manifests with its referrers`,
        'Promote an image with fewer platforms or attestations',
      );
    seen.add(digest);
    const manifest = await client.getManifest(from.withDigest(digest));
    const json = manifest.json as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    const node: Node = { manifest, blobs: [], children: [], referrers: [] };
    if (isIndex(manifest.mediaType)) {
      for (const d of json.manifests ?? []) node.children.push(await read(d.digest, depth));
    } else {
      if (json.config?.digest) node.blobs.push(json.config);
      node.blobs.push(...(json.layers ?? []));
    }
    if (depth < REFERRER_DEPTH) {
      for (const d of await client.referrers(from, digest)) {
        if (!seen.has(d.digest)) node.referrers.push(await read(d.digest, depth + 1));
      }
    }
    return node;
  };

  const top = await log.group(`Reading ${o.from}`, async () => {
    const n = await read(o.from.digest, 0);
    log.info(`${seen.size} manifests (the image, its platforms and referrers)`);
    return n;
  });

  const counts = { copied: zero(), mounted: zero(), skipped: zero() };
  /** Each blob once, though several referrers (one bundle attached to every platform) share it. */
  const blobCopies = new Map<Digest, Promise<void>>();
  const copyOne = async (b: Descriptor) => {
    const how = await client.copyBlob(from, to, b);
    const c = how === 'copied' ? counts.copied : how === 'mounted' ? counts.mounted : counts.skipped;
    c.count++;
    c.bytes += b.size;
    log.info(`blob ${b.digest} (${b.size} bytes): ${how === 'present' ? 'already there' : how}`);
  };
  const copyBlobs = (blobs: Descriptor[]) =>
    pool(unique(blobs), o.concurrency ?? 4, async (b) => {
      let copy = blobCopies.get(b.digest);
      if (!copy) {
        copy = copyOne(b);
        blobCopies.set(b.digest, copy);
      }
      await copy;
    });

  let manifests = 0;
  let referrers = 0;
  let referrersPresent = 0;
  /** An image manifest or index, after the manifests it names (their blobs are there already). */
  const putTree = async (n: Node, count: boolean): Promise<void> => {
    await Promise.all(n.children.map((c) => putTree(c, count)));
    await client.putManifest(to, n.manifest.bytes, n.manifest.mediaType);
    if (count) manifests++;
  };
  /**
   * The referrers of `n` and of the manifests under it. Each is whole before
   * it is recorded (its blobs, then its manifest), and what records it (the
   * referrers API, or the `sha256-<hex>` tag index, which names only referrer
   * manifests) never points at anything missing; its subject may arrive after
   * it, as OCI allows. So referrers go up while the image's layers do.
   */
  const putReferrers = async (n: Node): Promise<void> => {
    await Promise.all(n.children.map(putReferrers));
    if (n.referrers.length > 0) {
      const present = new Set((await client.referrers(to, n.manifest.digest)).map((d) => d.digest));
      // Where the destination has no referrers API, a subject's referrers share one tag index: one writer at a time.
      for (const r of n.referrers) {
        if (present.has(r.manifest.digest)) {
          // Listed, so whole: a run before this one got that far.
          referrersPresent++;
        } else {
          await copyBlobs(treeBlobs(r));
          await Promise.all(r.children.map((c) => putTree(c, false)));
          await client.pushReferrer(to, r.manifest.bytes, r.manifest.mediaType);
          referrers++;
        }
        log.info(`referrer ${r.manifest.digest} of ${n.manifest.digest}`);
      }
    }
    await Promise.all(n.referrers.map(putReferrers));
  };

  await log.group(`Copying into ${to.name}`, async () => {
    await Promise.all([
      (async () => {
        await copyBlobs(treeBlobs(top));
        await putTree(top, true);
        log.info(`${manifests} manifests at ${to.name}@${top.manifest.digest}`);
      })(),
      putReferrers(top),
    ]);
  });
  // Last: a tag is only ever written once everything it reaches is there.
  for (const tag of o.tags) {
    await client.putManifest(to, top.manifest.bytes, top.manifest.mediaType, tag);
    log.info(`tagged ${to.name}:${tag}`);
  }
  return {
    image: to.withDigest(top.manifest.digest) as Reference & { digest: Digest },
    digest: top.manifest.digest,
    ...counts,
    manifests,
    referrers,
    referrersPresent,
    tags: [...o.tags],
  };
}

/** The blobs of a manifest and of every manifest an index names (not its referrers). */
function treeBlobs(n: Node): Descriptor[] {
  return [...n.blobs, ...n.children.flatMap(treeBlobs)];
}

function unique(blobs: Descriptor[]): Descriptor[] {
  return [...new Map(blobs.map((b) => [b.digest, b])).values()];
}

function zero(): BlobCounts {
  return { count: 0, bytes: 0 };
}

/** Runs `fn` over `items`, at most `n` at a time; the first failure stops new starts and is thrown. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}
