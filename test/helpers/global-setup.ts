import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { docker, loadServicesEnv } from './services.ts';

/**
 * Loads the addresses written by test/services/start.sh, so every worker
 * sees them; and gives the suite a checksum cache of its own (every bundle
 * and the CLI use ANEW_CACHE_DIR), removed at the end, instead of the user's.
 *
 * At the end it also removes the untagged images left on the suite's own
 * engine: Dockerfile builds through the engine keep their parent images (the
 * legacy builder's cache, which another file's build may be standing on
 * while files run side by side), so only once every file is done can they go.
 */
export default function setup(): () => void {
  loadServicesEnv();
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-test-cache-'));
  process.env['ANEW_CACHE_DIR'] = cache;
  return () => {
    fs.rmSync(cache, { recursive: true, force: true });
    try {
      docker(['image', 'prune', '--force']);
    } catch {
      // No engine (a unit-only run without the services): nothing was left on it.
    }
  };
}
