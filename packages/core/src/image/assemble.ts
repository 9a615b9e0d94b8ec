import fs from 'node:fs';
import path from 'node:path';
import { limiter, started } from '../limit/index.ts';
import { type Logger, progressOf } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { type Descriptor, type Manifest, MediaType, type RegistryClient, sha256 } from '../registry/index.ts';
import type { BasePlatform, ResolvedBase } from './base.ts';
import { type BaseTree, readBaseTree } from './base-tree.ts';
import { buildConfig, type ImageSettings } from './config.ts';
import type { LayerEntry } from './files.ts';
import { type LayerFile, writeLayer } from './layer.ts';
import { placeEntries } from './placement.ts';
import { formatPlatform, type Platform } from './platform.ts';

/** Everything the image is made of, resolved and checked before anything is written. */
export interface ImagePlan {
  /** Destination repository. */
  repo: Reference;
  /** The base, resolved; undefined for scratch. */
  base?: ResolvedBase;
  /** For scratch: the platforms to label the image with (files are platform-independent). */
  scratchPlatforms: Platform[];
  entries: LayerEntry[];
  settings: ImageSettings;
  /** source-date-epoch, seconds. */
  epoch: number;
}

export interface BuiltImage {
  digest: Digest;
  mediaType: string;
  /** The top manifest (or index) as pushed, for tagging it without reading it back. */
  manifest: Manifest;
  /** One per platform (a single one when no index was made). */
  manifests: { platform: Platform; digest: Digest; size: number; layers: number }[];
  /** Compressed size of the largest platform image: config and layers. */
  size: number;
  /** Our layer of the first platform (the others differ only where their bases do). */
  layer: { digest: Digest; size: number; diffId: Digest };
  /** What was actually sent to the registry (blobs it already had or mounted are not counted). */
  uploadedBlobs: number;
}

// biome-ignore lint/suspicious/noExplicitAny: manifests are open JSON documents
type Json = any;

const LAYER_TYPES: Record<string, string> = {
  // Same bytes, OCI name: a docker base's gzip layers fit an OCI manifest as they are.
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
};

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

interface Target {
  platform: Platform;
  base: BasePlatform | undefined;
  layer: LayerFile;
  /** The layer went to the registry while it was written. */
  streamed: boolean;
}

/**
 * Layers with more content than this are uploaded while they are compressed
 * (one 8 MiB chunk after another); smaller ones go in one request once
 * written, which costs fewer round trips than it would save.
 */
const STREAM_FROM = 8 * 1024 * 1024;

/** How many base layers are copied from another registry at once; each copy holds a chunk or two. */
const BASE_COPIES = 3;

/**
 * Writes our layer, then for every platform a config and a manifest on top
 * of that platform's base image, and an index when the base is one (or
 * several platforms were asked for). The layer is placed on each platform's
 * base (see placeEntries), so it is written once per distinct placement:
 * once, unless the platforms' bases differ where our paths go. Base layers
 * are referenced, never rebuilt: a registry that has them is not sent them
 * again, and within one registry they are mounted from the base's repository.
 */
export async function assembleImage(
  client: RegistryClient,
  plan: ImagePlan,
  tmpDir: string,
  log: Logger,
): Promise<BuiltImage> {
  const written: LayerFile[] = [];
  // The base's layers start copying at once, beside reading the base and writing our layer.
  const baseCopies = copyBaseLayers(client, plan, log);
  try {
    const targets = await log.group('Layer', () => writeLayers(client, plan, tmpDir, written, log));
    return await log.group('Push', () => pushImage(client, plan, targets, baseCopies, log));
  } finally {
    for (const l of written) fs.rmSync(l.path, { force: true });
  }
}

async function writeLayers(
  client: RegistryClient,
  plan: ImagePlan,
  tmpDir: string,
  written: LayerFile[],
  log: Logger,
): Promise<Target[]> {
  const bases: (BasePlatform | undefined)[] = plan.base
    ? plan.base.platforms
    : plan.scratchPlatforms.map(() => undefined);
  const platforms = plan.base ? plan.base.platforms.map((b) => b.platform) : plan.scratchPlatforms;
  const trees = new Map<string, BaseTree>();
  const byPlacement = new Map<string, LayerFile>();
  const targets: Target[] = [];
  for (const [i, base] of bases.entries()) {
    let tree: BaseTree | undefined;
    if (base) {
      const layers = (base.manifestJson.layers ?? []) as Descriptor[];
      const key = layers.map((d) => d.digest).join(',');
      tree = trees.get(key);
      if (!tree) {
        tree = await readBaseTree(client, plan.base!.ref.repo, layers);
        trees.set(key, tree);
      }
    }
    const placed = placeEntries(plan.entries, tree, (from, to) =>
      log.info(`${formatPlatform(platforms[i]!)}: /${from} is /${to} in the base (through its symlinks)`),
    );
    const key = JSON.stringify(placed.map(({ source: _s, context: _c, dev: _d, ino: _i, ...e }) => e));
    let layer = byPlacement.get(key);
    let streamed = false;
    if (!layer) {
      const content = placed.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
      const stream = content >= STREAM_FROM ? client.streamBlob(plan.repo.repo) : undefined;
      const reading = progressOf(log, stream ? 'Compressing and uploading' : 'Compressing', content);
      layer = await writeLayer(placed, plan.epoch, path.join(tmpDir, `layer-${byPlacement.size}.tar.gz`), {
        tee: stream && ((bytes) => stream.write(bytes)),
        progress: reading,
      });
      written.push(layer);
      byPlacement.set(key, layer);
      log.info(
        `${placed.length} entries, ${layer.uncompressedSize} bytes, ${layer.size} compressed: ${layer.digest}`,
      );
      if (stream) {
        streamed = await stream.commit(layer.digest);
        if (streamed) log.info(`Uploaded ${layer.digest} while compressing it`);
        else log.debug(`assembleImage: the upload made while compressing failed: ${stream.failed?.message}`);
      }
    }
    targets.push({ platform: platforms[i]!, base, layer, streamed });
  }
  return targets;
}

/**
 * Starts copying every base layer the image names into the destination
 * (present, mounted, or streamed across registries), a few at a time; each
 * is awaited before the manifest that names it.
 */
function copyBaseLayers(
  client: RegistryClient,
  plan: ImagePlan,
  log: Logger,
): { copies: Map<string, Promise<void>>; uploaded: () => number } {
  const copies = new Map<string, Promise<void>>();
  let uploaded = 0;
  if (!plan.base) return { copies, uploaded: () => 0 };
  const copying = limiter(BASE_COPIES);
  for (const p of plan.base.platforms) {
    for (const d of (p.manifestJson.layers ?? []) as Descriptor[]) {
      if (copies.has(d.digest)) continue;
      const copy = started(
        copying(async () => {
          const up = await copyBaseBlob(client, plan.base!.ref, plan.repo.repo, d);
          if (up) uploaded++;
          log.debug(`assembleImage: base layer ${d.digest} ${up ? 'copied' : 'present or mounted'}`);
        }),
      );
      copies.set(d.digest, copy);
    }
  }
  return { copies, uploaded: () => uploaded };
}

async function pushImage(
  client: RegistryClient,
  plan: ImagePlan,
  targets: Target[],
  base: ReturnType<typeof copyBaseLayers>,
  log: Logger,
): Promise<BuiltImage> {
  const repo = plan.repo.repo;
  let uploadedBlobs = 0;
  const layerPushes = new Map<string, Promise<void>>();
  for (const { layer, streamed } of targets)
    if (!layerPushes.has(layer.digest))
      layerPushes.set(
        layer.digest,
        streamed
          ? Promise.resolve(void uploadedBlobs++)
          : started(
              client
                .pushBlobFile(repo, layer.path, layer.digest, layer.size, {
                  progress: progressOf(log, 'Uploading the layer', layer.size),
                })
                .then((r) => void (r.uploaded && uploadedBlobs++)),
            ),
      );

  const baseLayersPushed = base.copies;
  const manifests: BuiltImage['manifests'] = [];
  const descriptors: Descriptor[] = [];
  let size = 0;
  let last: Manifest | undefined;
  for (const t of targets) {
    const baseLayers: Descriptor[] = ((t.base?.manifestJson.layers ?? []) as Descriptor[]).map((d) => ({
      ...d,
      mediaType: LAYER_TYPES[d.mediaType] ?? d.mediaType,
    }));
    const config = buildConfig({
      base: t.base?.config,
      platform: t.platform,
      settings: plan.settings,
      diffId: t.layer.diffId,
      epoch: plan.epoch,
    });
    const configBytes = json(config);
    const configPush = await client.pushBlob(repo, configBytes);
    if (configPush.uploaded) uploadedBlobs++;
    const manifest: Json = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configPush.digest, size: configBytes.length },
      layers: [
        ...baseLayers,
        { mediaType: MediaType.ociLayerGzip, digest: t.layer.digest, size: t.layer.size },
      ],
    };
    if (plan.base)
      manifest.annotations = {
        'org.opencontainers.image.base.digest': plan.base.ref.digest,
        'org.opencontainers.image.base.name': plan.base.ref.repo.toString(),
      };
    const bytes = json(manifest);
    const digest = sha256(bytes);
    manifests.push({ platform: t.platform, digest, size: bytes.length, layers: manifest.layers.length });
    descriptors.push({
      mediaType: MediaType.ociManifest,
      digest,
      size: bytes.length,
      platform: { ...t.platform },
    });
    size = Math.max(
      size,
      configBytes.length + (manifest.layers as Descriptor[]).reduce((n, d) => n + d.size, 0),
    );
    // A manifest may only be pushed once every blob it names is there.
    await Promise.all([...layerPushes.values(), ...baseLayersPushed.values()]);
    await client.putManifest(repo, bytes, MediaType.ociManifest);
    last = { digest, mediaType: MediaType.ociManifest, bytes, json: manifest };
    log.info(`${formatPlatform(t.platform)}: ${digest}`);
  }

  let top = last!;
  if (plan.base?.isIndex || targets.length > 1) {
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: descriptors };
    const bytes = json(index);
    top = {
      digest: await client.putManifest(repo, bytes, MediaType.ociIndex),
      mediaType: MediaType.ociIndex,
      bytes,
      json: index,
    };
    log.info(`index: ${top.digest}`);
  }
  return {
    digest: top.digest,
    mediaType: top.mediaType,
    manifest: top,
    manifests,
    size,
    layer: {
      digest: targets[0]!.layer.digest,
      size: targets[0]!.layer.size,
      diffId: targets[0]!.layer.diffId,
    },
    uploadedBlobs: uploadedBlobs + base.uploaded(),
  };
}

/**
 * An upload that runs while other work is awaited, and is awaited itself
 * before the manifest that needs it. Marked as handled at once, so a failure
 * that comes while nobody awaits it yet is not an unhandled rejection (which
 * would end the process); it still rejects where it is awaited.
 */
/** A base layer into the destination: present, mounted (same registry), or copied. */
async function copyBaseBlob(
  client: RegistryClient,
  base: Reference,
  repo: Reference,
  d: Descriptor,
): Promise<boolean> {
  return (await client.copyBlob(base.repo, repo, d)) === 'copied';
}
