export {
  type BuildDeps,
  type BuildPlan,
  type BuildRequest,
  type BuildResult,
  build,
  planBuild,
} from './build.ts';
export { type CacheTrust, checkCachePolicy } from './cache-trust.ts';
export { type ContextEntry, describeContext } from './context.ts';
export { buildxBuilder, type DockerfileBuilder, engineBuilder } from './docker-cli.ts';
export {
  buildxBuildArgv,
  buildxEnvironment,
  type DockerfileBases,
  type DockerfileBuild,
  digestFromBuildxMetadata,
  dockerBuildArgv,
  dockerfileBases,
  pinDockerfile,
} from './dockerfile.ts';
export { canonicalJson, DAEMONLESS_BUILDER, inputsDigest } from './inputs-digest.ts';
export { imageLabels, runDerivedLabels } from './labels.ts';
export { cacheTag, lookupCache, parseTags, pushTags } from './publish.ts';
export { type BuildRecord, readBuildRecord, writeBuildRecord } from './record.ts';
export { defaultSourceDateEpoch, parseSourceDateEpoch } from './source-date-epoch.ts';
