import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadServicesEnv } from './services.ts';

/**
 * Loads the addresses written by test/services/start.sh, so every worker
 * sees them; and gives the suite a checksum cache of its own (every bundle
 * and the CLI use ANEW_CACHE_DIR), removed at the end, instead of the user's.
 */
export default function setup(): () => void {
  loadServicesEnv();
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-test-cache-'));
  process.env['ANEW_CACHE_DIR'] = cache;
  return () => fs.rmSync(cache, { recursive: true, force: true });
}
