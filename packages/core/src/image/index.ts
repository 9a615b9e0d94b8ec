export { assembleImage, type BuiltImage, type ImagePlan } from './assemble.ts';
export { type BasePlatform, type ResolvedBase, resolveBase } from './base.ts';
export { applyLayer, type BaseTree, readBaseTree } from './base-tree.ts';
export { ChecksumCache, userCacheDir } from './checksum-cache.ts';
export { parseCommand, shellSplit } from './command.ts';
export { buildConfig, epochToRfc3339, type ImageSettings } from './config.ts';
export {
  collectEntries,
  type FileMapping,
  type LayerEntry,
  parseFileMappings,
  resolveContext,
} from './files.ts';
export { BLOCK_SIZE, compressBlock, DeterministicGzip, GZIP_LEVEL } from './gzip.ts';
export { HashThreads } from './hash-pool.ts';
export {
  describeEntries,
  type EntryDescription,
  hashFile,
  type LayerFile,
  writeLayer,
} from './layer.ts';
export { placeEntries, resolvePath } from './placement.ts';
export { type DaemonlessRequest, planImage } from './plan.ts';
export { DEFAULT_PLATFORM, formatPlatform, type Platform, parsePlatform, samePlatform } from './platform.ts';
export { tarHeader } from './tar.ts';
export { readTar, type TarEntry, TarHeaderReader } from './tar-read.ts';
