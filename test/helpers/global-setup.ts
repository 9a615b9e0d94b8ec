import { loadServicesEnv } from './services.ts';

/** Loads the addresses written by test/services/start.sh, so every worker sees them. */
export default function setup(): void {
  loadServicesEnv();
}
