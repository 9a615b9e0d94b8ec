import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors/index.ts';
import type { Exec } from '../exec/index.ts';
import {
  assembleImage,
  ChecksumCache,
  describeEntries,
  type FileMapping,
  formatPlatform,
  HashThreads,
  type ImageSettings,
  type Platform,
  planImage,
  resolveContext,
} from '../image/index.ts';
import { type Logger, progressOf } from '../log/index.ts';
import type { VerifyPolicy } from '../provenance/policy.ts';
import { type Digest, parseReference, type Reference } from '../ref/index.ts';
import {
  type Credential,
  type Descriptor,
  isIndex,
  type Manifest,
  type RegistryClient,
} from '../registry/index.ts';
import { trustCachedImage } from './cache-trust.ts';
import { describeContext } from './context.ts';
import { buildxBuilder, engineBuilder } from './docker-cli.ts';
import { type DockerfileBuild, dockerfileBases, pinDockerfile } from './dockerfile.ts';
import { DAEMONLESS_BUILDER, inputsDigest } from './inputs-digest.ts';
import { cacheTag, lookupCache, pushTags } from './publish.ts';

export interface BuildRequest {
  /** Destination repository, without tag or digest. */
  repo: Reference;
  context: string;
  /** Human aliases, in `repo` (checked by parseTags). */
  tags: Reference[];
  /** Look up an image built from the same inputs and reuse it. */
  cache: boolean;
  /**
   * Whose provenance makes a cached image trusted. With it, a hit counts only
   * when the image carries provenance that satisfies it for the same
   * inputs-digest; without it, whatever the cache tag points at is reused.
   */
  cachePolicy?: VerifyPolicy;
  /** source-date-epoch, seconds. */
  epoch: number;
  /**
   * What the inputs-digest leaves out because it says when and from which
   * commit, not what is built: the epoch when it defaulted to the commit time,
   * and the labels taken from the run (the revision). Unchanged content then
   * hits the cache on a later commit, and the hit is the image first built
   * from it, its revision label naming the commit it was built from, which is
   * the truth. An epoch or label the user gives is part of the digest.
   */
  incidental?: { epoch: boolean; labels: readonly string[] };
  platforms?: Platform[];
  /** Every label of the image: the user's and the OCI source/revision ones. */
  labels: Record<string, string>;
  /** Set for the daemonless builder (`files` given)… */
  daemonless?: { files: FileMapping[]; base?: Reference; settings: Omit<ImageSettings, 'labels'> };
  /** …else the Dockerfile path. */
  dockerfile?: { file: string; buildArgs: Record<string, string>; target?: string };
}

export interface BuildDeps {
  client: RegistryClient;
  exec: Exec;
  log: Logger;
  /** A private scratch folder; the caller removes it. */
  tmpDir: string;
  /** Where the checksums of context files are kept between builds on this machine (see ChecksumCache); none if unset. */
  checksumDir?: string;
  /** Registry credentials from inputs, handed to the docker CLI on the Dockerfile path. */
  credential?: Credential;
}

export interface BuildResult {
  digest: Digest;
  /** repository@digest */
  image: string;
  inputsDigest: Digest;
  cacheHit: boolean;
  /**
   * Set on a hit: this run built nothing. `builtBy` is the invocation id of the
   * run that built the image, read from its provenance when a policy verified it.
   */
  reused?: { builtBy?: string };
  /** Why an image under the cache tag was not reused (it failed the cache policy), when one was found. */
  cacheRefused?: string;
  /** Full references, including none of the cache record. */
  tags: string[];
  baseDigest?: Digest;
  /** Compressed bytes of the (largest) platform image, layers and config. */
  size: number;
  layers: number;
  platforms: string[];
  builder: string;
}

/** What a build would do, found without writing anything (a dry run). */
export interface BuildPlan {
  inputsDigest: Digest;
  baseDigest?: Digest;
  builder: string;
  /** The image already built from the same inputs, which a build would reuse (when `cache` is on). */
  cached?: { digest: Digest; image: string };
}

/**
 * Builds an image (daemonless from `files`, or from a Dockerfile), unless the
 * repository already holds one built from the same inputs; records it under
 * its inputs-digest and pushes the tags. Everything the user can get wrong
 * is checked before anything is written.
 */
export async function build(req: BuildRequest, deps: BuildDeps): Promise<BuildResult> {
  return (await (req.daemonless
    ? buildDaemonless(req, req.daemonless, deps, false)
    : buildDockerfile(req, deps, false))) as BuildResult;
}

/**
 * Plans a build: resolves the inputs and the inputs-digest, and looks up an
 * image built from them, reading only. Nothing is built, pushed or tagged.
 */
export async function planBuild(req: BuildRequest, deps: BuildDeps): Promise<BuildPlan> {
  return (await (req.daemonless
    ? buildDaemonless(req, req.daemonless, deps, true)
    : buildDockerfile(req, deps, true))) as BuildPlan;
}

async function planned(
  req: BuildRequest,
  deps: BuildDeps,
  plan: Omit<BuildPlan, 'cached'>,
): Promise<BuildPlan> {
  const found = req.cache ? await trustedHit(req, plan.inputsDigest, deps) : undefined;
  const hit = found && 'manifest' in found ? found.manifest : undefined;
  deps.log.info(
    hit
      ? `Plan: reuse ${req.repo.repo.withDigest(hit.digest)}, recorded under ${cacheTag(plan.inputsDigest)}`
      : `Plan: build and push an image for inputs-digest ${plan.inputsDigest}`,
  );
  return {
    ...plan,
    cached: hit && { digest: hit.digest, image: req.repo.repo.withDigest(hit.digest).toString() },
  };
}

async function buildDaemonless(
  req: BuildRequest,
  spec: NonNullable<BuildRequest['daemonless']>,
  deps: BuildDeps,
  plan: boolean,
): Promise<BuildResult | BuildPlan> {
  const { client, log } = deps;
  const settings: ImageSettings = { ...spec.settings, labels: req.labels };
  const started = performance.now();
  const root = resolveContext(req.context);
  const checksums = deps.checksumDir ? ChecksumCache.load(deps.checksumDir, root) : undefined;
  // Started before the walk: they take about as long to start as a large context takes to walk. Not
  // when an earlier build here left checksums: then most files are known, and starting threads that
  // have little to do costs a hit 14 ms (describeEntries starts them if much is left to hash).
  const threads = checksums?.remembered ? undefined : HashThreads.start();
  const image = await log.group('Inputs', async () => {
    const p = await planImage(
      client,
      {
        repo: req.repo,
        context: req.context,
        files: spec.files,
        base: spec.base,
        platforms: req.platforms,
        settings,
        epoch: req.epoch,
      },
      log,
    ).catch(async (err: unknown) => {
      await threads?.close();
      throw err;
    });
    log.info(
      `${p.entries.length} entries from ${spec.files.length} "files" lines, source-date-epoch ${req.epoch}`,
    );
    return p;
  });
  const files = await describeEntries(image.entries, {
    threads,
    checksums,
    progress: progressOf(
      log,
      'Hashing',
      image.entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0),
    ),
  });
  if (checksums && checksums.hits > 0)
    log.info(
      `${checksums.hits} of ${image.entries.filter((e) => e.type === 'file').length} files unchanged since an earlier build on this machine: their checksums were not computed again`,
    );
  const platforms = image.base
    ? image.base.platforms.map((b) => formatPlatform(b.platform))
    : image.scratchPlatforms.map(formatPlatform);
  const inputs = inputsDigest({
    builder: DAEMONLESS_BUILDER,
    kind: 'files',
    epoch: hashedEpoch(req),
    base: image.base ? { name: image.base.ref.repo.toString(), digest: image.base.ref.digest } : 'scratch',
    platforms,
    files,
    settings: { ...settings, labels: hashedLabels(req) },
  });
  log.info(`inputs-digest: ${inputs}`);
  const baseDigest = image.base?.ref.digest;
  if (plan) return planned(req, deps, { inputsDigest: inputs, baseDigest, builder: DAEMONLESS_BUILDER });
  const hashed = performance.now();
  const lookup = cached(req, inputs, deps, DAEMONLESS_BUILDER, baseDigest);
  // Written while the lookup's request is out (a plan, above, writes nothing anywhere, not even this).
  checksums?.save(root);
  const hit = await lookup;
  // Where a build's time goes, for the bench (bench/build.bench.mjs reads it) and for a slow run's debug log.
  log.debug(
    // performance.now() counts from the process's start: `started` is the start-up.
    `build timings: start-up ${Math.round(started)} ms, inputs read and hashed ${Math.round(hashed - started)} ms, cache lookup ${Math.round(performance.now() - hashed)} ms`,
  );
  if (hit && 'digest' in hit) return hit;

  const assembling = performance.now();
  const built = await assembleImage(client, image, deps.tmpDir, log);
  log.debug(`build timings: layer written and pushed ${Math.round(performance.now() - assembling)} ms`);
  await log.group('Tags', () =>
    pushTags(client, req.repo, built.manifest, [cacheTag(inputs), ...tagNames(req)], log),
  );
  return {
    digest: built.digest,
    image: req.repo.repo.withDigest(built.digest).toString(),
    inputsDigest: inputs,
    cacheHit: false,
    cacheRefused: hit?.refused,
    tags: req.tags.map(String),
    baseDigest,
    size: built.size,
    layers: Math.max(...built.manifests.map((m) => m.layers)),
    platforms,
    builder: DAEMONLESS_BUILDER,
  };
}

async function buildDockerfile(
  req: BuildRequest,
  deps: BuildDeps,
  plan: boolean,
): Promise<BuildResult | BuildPlan> {
  const { client, log } = deps;
  const spec = req.dockerfile ?? { file: 'Dockerfile', buildArgs: {} };
  const root = resolveContext(req.context);
  const dockerfile = path.resolve(root, spec.file);
  let text: string;
  try {
    text = fs.readFileSync(dockerfile, 'utf8');
  } catch {
    throw new UserError(
      `the Dockerfile "${spec.file}" was not found in the context "${req.context}"`,
      'Set "dockerfile" to its path relative to the context, or give "files" for a daemonless build',
    );
  }
  const b: DockerfileBuild = {
    context: root,
    dockerfile,
    buildArgs: spec.buildArgs,
    target: spec.target,
    platforms: req.platforms?.map(formatPlatform),
    labels: req.labels,
    sourceDateEpoch: req.epoch,
  };
  const found = dockerfileBases(text, spec.buildArgs);
  const { bases, why } = await log.group('Inputs', () => pinBases(client, found));
  const builder = await log.group('Builder', async () => {
    const chosen = (await buildxBuilder(deps)) ?? (await engineBuilder(deps));
    log.info(`Building with ${chosen.version}`);
    return chosen;
  });
  const inputs = inputsDigest({
    builder: builder.version,
    kind: 'dockerfile',
    epoch: hashedEpoch(req),
    dockerfile: { path: path.relative(root, dockerfile), text },
    buildArgs: spec.buildArgs,
    target: spec.target ?? null,
    platforms: b.platforms ?? null,
    labels: hashedLabels(req),
    bases: bases ?? { unknown: why },
    context: describeContext(root),
  });
  log.info(`inputs-digest: ${inputs}`);
  const baseDigests = Object.values(bases ?? {});
  const baseDigest = baseDigests.length === 1 ? baseDigests[0] : undefined;
  if (plan) {
    // Without pinned bases a build is never reused, so there is nothing to look up.
    const p = { inputsDigest: inputs, baseDigest, builder: builder.version };
    return bases ? planned(req, deps, p) : p;
  }
  if (bases && baseDigests.length > 0)
    b.dockerfile = writePinnedDockerfile(text, spec.buildArgs, bases, dockerfile, deps);
  let refused: string | undefined;
  if (bases) {
    const hit = await cached(req, inputs, deps, builder.version, baseDigest);
    if (hit && 'digest' in hit) return hit;
    refused = hit?.refused;
  } else if (req.cache) {
    log.info(`Not looking for a cached image: ${why}`);
  }
  if (!req.cache)
    log.info(
      'Not looking for a cached image: "cache" is off (the default for Dockerfile builds, whose RUN, ADD and COPY --from can fetch what the inputs-digest cannot see)',
    );
  const digest = await log.group('Build', () =>
    builder.build(b, req.repo, cacheTag(inputs), baseDigests.length > 0),
  );
  // The engine path pushed it under the record tag already; the tags point at the bytes the registry has.
  const manifest = await client.getManifest(req.repo.repo.withDigest(digest));
  await log.group('Tags', () =>
    pushTags(client, req.repo, manifest, [cacheTag(inputs), ...tagNames(req)], log),
  );
  return {
    ...(await describePushed(client, req.repo, manifest)),
    digest,
    image: req.repo.repo.withDigest(digest).toString(),
    inputsDigest: inputs,
    cacheHit: false,
    cacheRefused: refused,
    tags: req.tags.map(String),
    baseDigest,
    builder: builder.version,
  };
}

/**
 * The Dockerfile the builder gets: every base replaced by the digest the
 * inputs-digest holds, so a tag that moves between the lookup and the build
 * cannot slip other bytes under the same inputs-digest. Written outside the
 * context, beside a copy of the Dockerfile's own .dockerignore if it has one.
 */
function writePinnedDockerfile(
  text: string,
  buildArgs: Record<string, string>,
  bases: Record<string, Digest>,
  original: string,
  deps: BuildDeps,
): string {
  const dir = fs.mkdtempSync(path.join(deps.tmpDir, 'dockerfile-'));
  const file = path.join(dir, 'Dockerfile');
  const pinned = pinDockerfile(text, buildArgs, (name) => {
    const ref = parseReference(name);
    const digest = bases[ref.toString()];
    return digest && `${ref.name}@${digest}`;
  });
  fs.writeFileSync(file, pinned);
  if (fs.existsSync(`${original}.dockerignore`))
    fs.copyFileSync(`${original}.dockerignore`, `${file}.dockerignore`);
  deps.log.debug(`Pinned Dockerfile ${file}:\n${pinned}`);
  return file;
}

/** Resolves every base image (FROM, COPY --from) to a digest, so the inputs-digest changes when a tag moves. */
async function pinBases(
  client: RegistryClient,
  found: ReturnType<typeof dockerfileBases>,
): Promise<{ bases?: Record<string, Digest>; why: string }> {
  if ('unknown' in found) return { why: found.unknown };
  const bases: Record<string, Digest> = {};
  for (const name of found.bases) {
    const ref = parseReference(name, `FROM image "${name}"`);
    const r = await client.resolve(ref).catch(() => undefined);
    if (!r) return { why: `the FROM image ${name} could not be read from its registry` };
    bases[ref.toString()] = r.digest;
  }
  return { bases, why: '' };
}

/** The epoch as the inputs-digest sees it: a defaulted commit time is not content (BuildRequest.incidental). */
function hashedEpoch(req: BuildRequest): number | 'commit time' {
  return req.incidental?.epoch ? 'commit time' : req.epoch;
}

function hashedLabels(req: BuildRequest): Record<string, string> {
  const skip = new Set(req.incidental?.labels ?? []);
  return Object.fromEntries(Object.entries(req.labels).filter(([k]) => !skip.has(k)));
}

function tagNames(req: BuildRequest): string[] {
  return req.tags.map((t) => t.tag!);
}

/**
 * The image recorded under these inputs, if it may be reused: with a cache
 * policy, only when its provenance satisfies the policy for these inputs
 * (else the reason it does not); without one, whatever the tag points at, and
 * the log says that it was trusted unverified.
 */
async function trustedHit(
  req: BuildRequest,
  inputs: Digest,
  deps: BuildDeps,
): Promise<{ manifest: Manifest; builtBy?: string } | { refused: string } | undefined> {
  const { client, log } = deps;
  const manifest = await lookupCache(client, req.repo, inputs);
  if (!manifest) return undefined;
  const recorded = req.repo.repo.withTag(cacheTag(inputs));
  if (!req.cachePolicy) {
    log.info(
      `${recorded} is trusted without verification (no cache policy: whoever can push to ${req.repo.name} can plant it; set cache-public-key or cache-certificate-identity-regexp to require its provenance)`,
    );
    return { manifest };
  }
  const image = req.repo.repo.withDigest(manifest.digest) as Reference & { digest: Digest };
  const trust = await log.group('Cache policy', () =>
    trustCachedImage(client, image, inputs, req.cachePolicy!, log),
  );
  if (!trust.trusted) {
    log.warning(`Not reusing ${recorded} (${manifest.digest}): ${trust.reason}; building instead`);
    return { refused: trust.reason };
  }
  log.info(`${recorded}: its provenance satisfies the cache policy for inputs-digest ${inputs}`);
  return { manifest, builtBy: trust.builtBy };
}

/**
 * On a cache hit: the recorded image, with the requested tags pointed at it;
 * nothing is built or uploaded. Else why a recorded image was refused, if one was.
 */
async function cached(
  req: BuildRequest,
  inputs: Digest,
  deps: BuildDeps,
  builder: string,
  baseDigest: Digest | undefined,
): Promise<BuildResult | { refused: string } | undefined> {
  if (!req.cache) return undefined;
  const found = await trustedHit(req, inputs, deps);
  if (!found) {
    deps.log.info(`No image recorded under ${cacheTag(inputs)}: building`);
    return undefined;
  }
  if ('refused' in found) return found;
  const hit = found.manifest;
  deps.log.info(`Cache hit: ${req.repo.repo.withTag(cacheTag(inputs))} is ${hit.digest}; nothing to build`);
  await deps.log.group('Tags', () => pushTags(deps.client, req.repo, hit, tagNames(req), deps.log));
  return {
    ...(await describePushed(deps.client, req.repo, hit)),
    digest: hit.digest,
    image: req.repo.repo.withDigest(hit.digest).toString(),
    inputsDigest: inputs,
    cacheHit: true,
    reused: { builtBy: found.builtBy },
    tags: req.tags.map(String),
    baseDigest,
    builder,
  };
}

/** Size, layer count and platforms of a pushed image, from its manifests (for the summary). */
async function describePushed(
  client: RegistryClient,
  repo: Reference,
  top: Manifest,
): Promise<{ size: number; layers: number; platforms: string[] }> {
  const descriptors: Descriptor[] = isIndex(top.mediaType) ? (top.json.manifests ?? []) : [];
  const platforms = descriptors
    .filter((d) => d.platform && d.platform.os !== 'unknown')
    .map((d) => formatPlatform(d.platform!));
  const first =
    descriptors.length > 0 ? await client.getManifest(repo.repo.withDigest(descriptors[0]!.digest)) : top;
  const layers = (first.json.layers ?? []) as Descriptor[];
  return {
    size: (first.json.config?.size ?? 0) + layers.reduce((n, d) => n + d.size, 0),
    layers: layers.length,
    platforms,
  };
}
