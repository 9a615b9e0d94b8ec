import { UserError } from '../errors/index.ts';
import { started as held, limiter } from '../limit/index.ts';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { type Descriptor, isIndex, type Manifest, type RegistryClient } from '../registry/index.ts';

/**
 * Promotion: an image copied whole, at the same digest, from one repository
 * to another (same registry or another), with the artifacts that refer to it
 * (attestations, signatures). Everything is read first, while the policy
 * gate runs (reads write nothing); no write starts unless the gate passed.
 * Then the writes go in an order that never leaves a reference to missing
 * content: blobs, then the manifests that name them (platform manifests
 * before their index), and each referrer whole before it is recorded; the
 * tags last. A run cut off anywhere leaves at most unreferenced blobs,
 * untagged manifests and attestations of a manifest not there yet, and the
 * next run completes it.
 */

export interface PromoteOptions {
  from: Reference & { digest: Digest };
  /** Destination repository (its tag or digest, if any, is ignored). */
  to: Reference;
  /** Tags written at the destination once everything else is there. */
  tags: readonly string[];
  /** Blobs copied at once. */
  concurrency?: number;
  /**
   * The policy gate (verifyImage). It runs beside the reads, which write
   * nothing; its failure is the promotion's, and nothing is written at the
   * destination before it has passed.
   */
  gate?: () => Promise<void>;
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

/** Destination reads (blob HEADs, referrer lists) at once. */
const READS = 8;
/** Referrers of referrers (a signature on an attestation) are followed this deep. */
const REFERRER_DEPTH = 2;
/** An index that names more manifests than this is refused rather than walked. */
const MAX_MANIFESTS = 1000;

export async function promoteImage(
  client: RegistryClient,
  o: PromoteOptions,
  log: Logger,
): Promise<PromoteResult> {
  // performance.now() counts from the process's start: `started` is the start-up.
  const started = performance.now();
  const from = o.from.repo;
  const to = o.to.repo;
  const seen = new Set<Digest>();
  const sameRepository = from.registry === to.registry && from.repository === to.repository;

  // What the destination has already (a HEAD per blob, the referrers it lists for each subject),
  // asked as soon as the source names them, at most READS at once; awaited once the source is read.
  const ask = limiter(READS);
  const present = new Map<Digest, Promise<boolean>>();
  const listed = new Map<Digest, Promise<Set<Digest>>>();

  /** A manifest and its referrers are asked for at once, and every manifest they name beside each other. */
  const read = async (digest: Digest, depth: number): Promise<Node> => {
    if (seen.size >= MAX_MANIFESTS)
      throw new UserError(
        `${o.from} names more than ${MAX_MANIFESTS} manifests with its referrers`,
        'Promote an image with fewer platforms or attestations',
      );
    seen.add(digest);
    const [manifest, refs] = await Promise.all([
      client.getManifest(from.withDigest(digest)),
      depth < REFERRER_DEPTH ? client.referrers(from, digest) : [],
    ]);
    const json = manifest.json as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    const node: Node = { manifest, blobs: [], children: [], referrers: [] };
    const children: Promise<Node>[] = [];
    if (isIndex(manifest.mediaType)) {
      for (const d of json.manifests ?? []) children.push(read(d.digest, depth));
    } else {
      if (json.config?.digest) node.blobs.push(json.config);
      node.blobs.push(...(json.layers ?? []));
    }
    for (const b of node.blobs) {
      if (!sameRepository && !present.has(b.digest))
        present.set(b.digest, held(ask(() => client.blobExists(to, b.digest))));
    }
    if (refs.length > 0 && !listed.has(digest)) {
      listed.set(
        digest,
        held(ask(async () => new Set((await client.referrers(to, digest)).map((d) => d.digest)))),
      );
    }
    // `read` marks a digest seen before its first wait: a referrer that is also a child is read once.
    const referrers: Promise<Node>[] = [];
    for (const d of refs) if (!seen.has(d.digest)) referrers.push(read(d.digest, depth + 1));
    node.children = await Promise.all(children);
    node.referrers = await Promise.all(referrers);
    return node;
  };

  // The gate and the reads go side by side; writes wait for both, and a failed gate is the error reported.
  let gated = started;
  let readAt = started;
  // Awaited below, once the gate has passed.
  const reads = held(
    (async () => {
      const t = await read(o.from.digest, 0);
      const settled = async <T>(m: Map<Digest, Promise<T>>) =>
        new Map(await Promise.all([...m].map(async ([d, p]) => [d, await p] as const)));
      const [p, l] = await Promise.all([settled(present), settled(listed)]);
      readAt = performance.now();
      return { top: t, present: p, listed: l };
    })(),
  );
  await o.gate?.();
  gated = performance.now();
  const { top, present: blobsThere, listed: referrersThere } = await reads;
  log.info(`${seen.size} manifests (the image, its platforms and referrers) read from ${o.from.name}`);
  const writing = performance.now();
  let imageAt = writing;
  let referrersAt = writing;

  const counts = { copied: zero(), mounted: zero(), skipped: zero() };
  /** Each blob once, though several referrers (one bundle attached to every platform) share it. */
  const blobCopies = new Map<Digest, Promise<void>>();
  const copyOne = async (b: Descriptor) => {
    const how = await client.copyBlob(from, to, b, blobsThere.get(b.digest));
    const c = how === 'copied' ? counts.copied : how === 'mounted' ? counts.mounted : counts.skipped;
    c.count++;
    c.bytes += b.size;
    log.info(`blob ${b.digest} (${b.size} bytes): ${how === 'present' ? 'already there' : how}`);
  };
  const copying = limiter(o.concurrency ?? 4);
  /** Set by the first copy that fails: no copy starts after it. */
  let failed: unknown;
  const copyBlobs = async (blobs: Descriptor[]) => {
    for (const b of unique(blobs))
      if (!blobCopies.has(b.digest))
        blobCopies.set(
          b.digest,
          held(
            copying(async () => {
              if (failed !== undefined) throw failed;
              await copyOne(b).catch((e: unknown) => {
                failed ??= e;
                throw e;
              });
            }),
          ),
        );
    await Promise.all(unique(blobs).map((b) => blobCopies.get(b.digest)!));
  };

  let recorded!: () => void;
  const firstRecorded = new Promise<void>((resolve) => {
    recorded = resolve;
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
      // Listed, so whole: a run before this one got that far.
      const listedThere = referrersThere.get(n.manifest.digest);
      const missing = n.referrers.filter((r) => !listedThere?.has(r.manifest.digest));
      referrersPresent += n.referrers.length - missing.length;
      if (missing.length > 0) {
        await copyBlobs(missing.flatMap(treeBlobs));
        await Promise.all(missing.flatMap((r) => r.children.map((c) => putTree(c, false))));
        // All of a subject's referrers in one record: where the destination has no referrers API,
        // they share one tag index, which is then written and confirmed once, not once each.
        await client.pushReferrers(
          to,
          missing.map((r) => ({ bytes: r.manifest.bytes, mediaType: r.manifest.mediaType })),
          recorded,
        );
        referrers += missing.length;
      }
      for (const r of n.referrers) log.info(`referrer ${r.manifest.digest} of ${n.manifest.digest}`);
    }
    await Promise.all(n.referrers.map(putReferrers));
  };

  await log.group(`Copying into ${to.name}`, async () => {
    // The referrers' blobs first, before the layers fill the connections: they are small, and
    // recording a referrer is the longest chain of a promotion (a tag index is confirmed by a read
    // at least 400 ms after its write where the registry has no referrers API).
    await copyBlobs(toRecord(top, referrersThere).flatMap(treeBlobs));
    await Promise.all([
      (async () => {
        // The layers start once a referrer is recorded (its confirmation then only waits and
        // reads): beside them, the registry would answer its read and write more slowly, and a
        // slower writer waits longer for its confirmation.
        await firstRecorded;
        await copyBlobs(treeBlobs(top));
        await putTree(top, true);
        imageAt = performance.now();
        log.info(`${manifests} manifests at ${to.name}@${top.manifest.digest}`);
      })(),
      (async () => {
        try {
          await putReferrers(top);
          referrersAt = performance.now();
        } finally {
          recorded();
        }
      })(),
    ]);
  });
  // Last: a tag is only ever written once everything it reaches is there.
  const tagging = performance.now();
  for (const tag of o.tags) {
    await client.putManifest(to, top.manifest.bytes, top.manifest.mediaType, tag);
    log.info(`tagged ${to.name}:${tag}`);
  }
  // Where a promotion's time goes, for the bench (bench/promote.bench.mjs reads it) and a slow run's debug log.
  const ms = (a: number, b: number) => Math.round(b - a);
  log.debug(
    `promote timings: start-up ${Math.round(started)} ms, verification ${ms(started, gated)} ms, reads ${ms(started, readAt)} ms (beside it), image copied ${ms(writing, imageAt)} ms, referrers recorded ${ms(writing, referrersAt)} ms (beside it), tags ${ms(tagging, performance.now())} ms`,
  );
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

/** The referrers the destination does not list yet, under `n`. */
function toRecord(n: Node, listed: Map<Digest, Set<Digest>>): Node[] {
  const there = listed.get(n.manifest.digest);
  return [
    ...n.referrers.filter((r) => !there?.has(r.manifest.digest)),
    ...n.children.flatMap((c) => toRecord(c, listed)),
    ...n.referrers.flatMap((r) => toRecord(r, listed)),
  ];
}

function unique(blobs: Descriptor[]): Descriptor[] {
  return [...new Map(blobs.map((b) => [b.digest, b])).values()];
}

function zero(): BlobCounts {
  return { count: 0, bytes: 0 };
}
