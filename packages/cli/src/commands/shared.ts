import { environmentSettings, type SettingKey, type Settings, settingsFromStrings } from '@anew/core/config';
import { UserError } from '@anew/core/errors';
import type { ConsoleLogger } from '@anew/core/log';
import { parseFlags } from '../flags.ts';

export type Command = (args: string[], log: ConsoleLogger) => Promise<number>;

/** A command over one environment: its flags, the settings they override, and the usage text. */
export interface EnvironmentCommand {
  usage: string;
  settings: readonly SettingKey[];
  values?: readonly string[];
  booleans?: readonly string[];
  run(
    ctx: { app: string; environment: string; settings: Settings; flags: Record<string, string> },
    log: ConsoleLogger,
  ): Promise<number>;
}

/** Turns an EnvironmentCommand into a Command: --help, flags, anew.yml and settings, the same way for all. */
export function environmentCommand(def: EnvironmentCommand): Command {
  return async (args, log) => {
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(`${def.usage}\n`);
      return 0;
    }
    const flags = parseFlags(args, {
      values: ['environment', 'app', 'config', ...def.settings, ...(def.values ?? [])],
      booleans: ['dry-run', ...(def.booleans ?? [])],
    });
    const environment = flags['environment'];
    if (!environment) throw new UserError('--environment is required', def.usage.split('\n')[0]);
    const { app, settings } = environmentSettings({
      configFile: flags['config'] ?? 'anew.yml',
      environment,
      app: flags['app'],
      repository: process.env['GITHUB_REPOSITORY'],
      overrides: settingsFromStrings(
        def.settings,
        (k) => flags[k],
        (k) => `option --${k}`,
      ),
    });
    return def.run({ app, environment, settings, flags }, log);
  };
}

/** Prints command results on stdout as key=value lines (what the action would output), for scripts. */
export function printOutputs(outputs: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(outputs)) if (v !== undefined) process.stdout.write(`${k}=${v}\n`);
}

export const COMMON_HELP = `  --environment NAME      environment (required)
  --app NAME              app name (default: anew.yml "app", else the repository name)
  --config FILE           anew.yml path (default: anew.yml); its values are defaults, options override them
  --dry-run               print the plan and change nothing`;
