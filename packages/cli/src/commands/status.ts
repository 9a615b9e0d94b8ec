import { DEFAULT_SETTINGS, loadConfig, resolveSettings, settingsFromStrings } from '@anew/core/config';
import { formatStatus, infraFor, status } from '@anew/core/release';
import { parseFlags } from '../flags.ts';
import type { Command } from './shared.ts';

const USAGE = `Usage: anew status [--app NAME] [--environment NAME] [--docker-host URL]... [--router-url URL] [--json]

Lists each environment's live release, its digest, warm targets, and drift
(a target that stopped or runs another image than its label's digest, a route
to a target that is gone), read from the engines' labels and the router.`;

const status_: Command = async (args, log) => {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const flags = parseFlags(args, {
    values: ['app', 'environment', 'config', 'docker-host', 'network', 'router-url'],
    booleans: ['json'],
  });
  const config = loadConfig(flags['config'] ?? 'anew.yml', { required: flags['config'] !== undefined });
  const settings = flags['environment']
    ? resolveSettings(config, flags['environment'], {})
    : { ...DEFAULT_SETTINGS };
  Object.assign(
    settings,
    settingsFromStrings(
      ['docker-host', 'network', 'router-url'],
      (k) => flags[k],
      (k) => `option --${k}`,
    ),
  );
  const envs = await status(infraFor(settings, log), {
    app: flags['app'] ?? config.app,
    environment: flags['environment'],
  });
  process.stdout.write(`${flags['json'] ? JSON.stringify(envs, null, 2) : formatStatus(envs)}\n`);
  return envs.some((e) => e.drift.length > 0) ? 3 : 0;
};

export default status_;
