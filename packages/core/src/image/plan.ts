import type { Logger } from '../log/index.ts';
import type { Reference } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import type { ImagePlan } from './assemble.ts';
import { resolveBase } from './base.ts';
import type { ImageSettings } from './config.ts';
import { collectEntries, type FileMapping, resolveContext } from './files.ts';
import { DEFAULT_PLATFORM, type Platform } from './platform.ts';

export interface DaemonlessRequest {
  /** Destination repository. */
  repo: Reference;
  context: string;
  files: FileMapping[];
  /** A reference, or undefined for scratch. */
  base?: Reference;
  /** Undefined: the base's platforms (linux/amd64 for scratch). */
  platforms?: Platform[];
  settings: ImageSettings;
  epoch: number;
}

/**
 * Everything a daemonless build reads, checked before anything is written:
 * the context and every file in it, and the base resolved to a digest.
 */
export async function planImage(
  client: RegistryClient,
  req: DaemonlessRequest,
  log: Logger,
): Promise<ImagePlan> {
  const root = resolveContext(req.context);
  const entries = collectEntries(root, req.files);
  const base = req.base ? await resolveBase(client, req.base, req.platforms, log) : undefined;
  return {
    repo: req.repo,
    base,
    scratchPlatforms: req.platforms ?? [DEFAULT_PLATFORM],
    entries,
    settings: req.settings,
    epoch: req.epoch,
  };
}
