import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import { type Descriptor, isIndex, MediaType, type RegistryClient } from '../registry/index.ts';
import { DEFAULT_PLATFORM, formatPlatform, type Platform, samePlatform } from './platform.ts';

/** One platform's image of the base: its manifest and config, read once. */
export interface BasePlatform {
  platform: Platform;
  manifest: Descriptor;
  // biome-ignore lint/suspicious/noExplicitAny: manifests and configs are open JSON documents
  manifestJson: any;
  // biome-ignore lint/suspicious/noExplicitAny: manifests and configs are open JSON documents
  config: any;
}

export interface ResolvedBase {
  /** The base as given, pinned: what the layers are mounted from. */
  ref: Reference & { digest: Digest };
  /** True when the base is a multi-platform index. */
  isIndex: boolean;
  platforms: BasePlatform[];
}

const IMAGE_MANIFESTS: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];

/**
 * Resolves the base once to a digest (a tag could move between reads) and
 * reads the image of every wanted platform. With no platforms asked for, all
 * the base has. An asked-for platform the base lacks is a user error that
 * lists what it has.
 */
export async function resolveBase(
  client: RegistryClient,
  base: Reference,
  wanted: readonly Platform[] | undefined,
  log: Logger,
): Promise<ResolvedBase> {
  const top = await client.getManifest(base);
  const ref = base.withDigest(top.digest) as Reference & { digest: Digest };
  log.info(`Base ${base} is ${top.digest}`);
  if (!isIndex(top.mediaType)) {
    if (!IMAGE_MANIFESTS.includes(top.mediaType))
      throw new UserError(`the base ${base} is a ${top.mediaType}, not an image`, 'Use an image as the base');
    const config = await readConfig(client, ref, top.json);
    const platform = platformOf(config);
    const only: BasePlatform = {
      platform,
      manifest: { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length },
      manifestJson: top.json,
      config,
    };
    for (const w of wanted ?? []) if (!samePlatform(w, platform)) throw unknownPlatform(base, w, [platform]);
    return { ref, isIndex: false, platforms: [only] };
  }
  const listed: Descriptor[] = ((top.json.manifests ?? []) as Descriptor[]).filter(
    // Attestation manifests (buildx) carry the platform unknown/unknown: not images to build on.
    (d) => d.platform && d.platform.os !== 'unknown' && IMAGE_MANIFESTS.includes(d.mediaType),
  );
  const available = listed.map((d) => d.platform as Platform);
  const chosen = wanted
    ? wanted.map((w) => {
        const d = listed.find((x) => samePlatform(x.platform as Platform, w));
        if (!d) throw unknownPlatform(base, w, available);
        return d;
      })
    : listed;
  if (chosen.length === 0) throw new UserError(`the base ${base} lists no image for any platform`);
  const platforms = await Promise.all(
    chosen.map(async (d) => {
      const m = await client.getManifest(ref.withDigest(d.digest));
      const config = await readConfig(client, ref, m.json);
      return { platform: platformOf(config, d.platform), manifest: d, manifestJson: m.json, config };
    }),
  );
  return { ref, isIndex: true, platforms };
}

// biome-ignore lint/suspicious/noExplicitAny: see above
async function readConfig(client: RegistryClient, ref: Reference, manifest: any): Promise<any> {
  const d = manifest.config as Descriptor;
  const bytes = await client.getBlob(ref.repo, d.digest, d.size);
  return JSON.parse(bytes.toString('utf8'));
}

// biome-ignore lint/suspicious/noExplicitAny: see above
function platformOf(config: any, listed?: Descriptor['platform']): Platform {
  const os = config.os ?? listed?.os;
  const architecture = config.architecture ?? listed?.architecture;
  if (!os || !architecture) return DEFAULT_PLATFORM;
  const variant = config.variant ?? listed?.variant;
  return variant ? { os, architecture, variant } : { os, architecture };
}

function unknownPlatform(base: Reference, wanted: Platform, available: Platform[]): UserError {
  return new UserError(
    `the base ${base} has no image for ${formatPlatform(wanted)}`,
    `It has: ${available.map(formatPlatform).join(', ') || 'none'}. Set "platforms" to some of these`,
  );
}
