import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { type Descriptor, type Manifest, MediaType, type RegistryClient, sha256 } from '../registry/index.ts';
import type { ResolvedBase } from './base.ts';
import { buildConfig, type ImageSettings } from './config.ts';
import type { LayerEntry } from './files.ts';
import { type LayerFile, writeLayer } from './layer.ts';
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

/**
 * Writes the layer once, then for every platform a config and a manifest on
 * top of that platform's base image, and an index when the base is one (or
 * several platforms were asked for). Base layers are referenced, never
 * rebuilt: a registry that has them is not sent them again, and within one
 * registry they are mounted from the base's repository.
 */
export async function assembleImage(
  client: RegistryClient,
  plan: ImagePlan,
  tmpDir: string,
  log: Logger,
): Promise<BuiltImage> {
  const layer = await log.group('Layer', async () => {
    const l = await writeLayer(plan.entries, plan.epoch, path.join(tmpDir, 'layer.tar.gz'));
    log.info(
      `${plan.entries.length} entries, ${l.uncompressedSize} bytes, ${l.size} compressed: ${l.digest}`,
    );
    return l;
  });
  try {
    return await log.group('Push', () => pushImage(client, plan, layer, log));
  } finally {
    fs.rmSync(layer.path, { force: true });
  }
}

async function pushImage(
  client: RegistryClient,
  plan: ImagePlan,
  layer: LayerFile,
  log: Logger,
): Promise<BuiltImage> {
  const repo = plan.repo.repo;
  let uploadedBlobs = 0;
  const ours: Descriptor = { mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size };
  const layerPush = background(
    client
      .pushBlobFile(repo, layer.path, layer.digest, layer.size)
      .then((r) => void (r.uploaded && uploadedBlobs++)),
  );

  const targets = plan.base
    ? plan.base.platforms.map((b) => ({ platform: b.platform, base: b }))
    : plan.scratchPlatforms.map((platform) => ({ platform, base: undefined }));

  const baseLayersPushed = new Map<string, Promise<void>>();
  let baseCopies: Promise<void> = Promise.resolve();
  const manifests: BuiltImage['manifests'] = [];
  const descriptors: Descriptor[] = [];
  let size = 0;
  let last: Manifest | undefined;
  for (const t of targets) {
    const baseLayers: Descriptor[] = ((t.base?.manifestJson.layers ?? []) as Descriptor[]).map((d) => ({
      ...d,
      mediaType: LAYER_TYPES[d.mediaType] ?? d.mediaType,
    }));
    for (const d of baseLayers) {
      if (baseLayersPushed.has(d.digest)) continue;
      // One base layer at a time (beside our own upload): a copy from another registry holds the
      // layer in memory, and a base's layers can be hundreds of MB together.
      baseCopies = background(
        baseCopies.then(() =>
          copyBaseBlob(client, plan.base!.ref, repo, d).then((up) => void (up && uploadedBlobs++)),
        ),
      );
      baseLayersPushed.set(d.digest, baseCopies);
    }
    const config = buildConfig({
      base: t.base?.config,
      platform: t.platform,
      settings: plan.settings,
      diffId: layer.diffId,
      epoch: plan.epoch,
    });
    const configBytes = json(config);
    const configPush = await client.pushBlob(repo, configBytes);
    if (configPush.uploaded) uploadedBlobs++;
    const manifest: Json = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configPush.digest, size: configBytes.length },
      layers: [...baseLayers, ours],
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
    await Promise.all([layerPush, ...baseLayersPushed.values()]);
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
    layer: { digest: layer.digest, size: layer.size, diffId: layer.diffId },
    uploadedBlobs,
  };
}

/**
 * An upload that runs while other work is awaited, and is awaited itself
 * before the manifest that needs it. Marked as handled at once, so a failure
 * that comes while nobody awaits it yet is not an unhandled rejection (which
 * would end the process); it still rejects where it is awaited.
 */
function background<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** A base layer into the destination: present, mounted (same registry), or copied. */
async function copyBaseBlob(
  client: RegistryClient,
  base: Reference,
  repo: Reference,
  d: Descriptor,
): Promise<boolean> {
  return (await client.copyBlob(base.repo, repo, d)) === 'copied';
}
