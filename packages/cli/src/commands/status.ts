import { InputReader, type InputSpecs } from '@anew/action';
import {
  DEFAULT_SETTINGS,
  loadConfig,
  resolveSettings,
  SETTINGS,
  settingDescription,
  settingsFromStrings,
} from '@anew/core/config';
import { isUserError } from '@anew/core/errors';
import { formatStatus, status, withInfra } from '@anew/core/release';
import { parseFlags, UsageError } from '../flags.ts';
import type { Command } from './shared.ts';

const SETTING_OPTIONS = ['docker-host', 'network', 'router', 'router-url', 'router-config'] as const;

const spec: InputSpecs = {
  app: { description: 'Application name; default: anew.yml "app".', group: 'Environment', max: 63 },
  environment: { description: 'Only this environment.', group: 'Environment', max: 63 },
  config: { description: 'Path of the anew.yml file.', default: 'anew.yml', group: 'Environment' },
  ...Object.fromEntries(
    SETTING_OPTIONS.map((k) => [
      k,
      { description: settingDescription(k), multiline: SETTINGS[k].multiline, group: 'Target' },
    ]),
  ),
};

const USAGE = `Usage: anew status [--app NAME] [--environment NAME] [--docker-host URL]... [--router-url URL] [--json]

Lists each environment's live release, its digest, warm targets, and drift
(a target that stopped or runs another image than its label's digest, a route
to a target that is gone), read from the engines' labels and the router.
Exit codes: 0 no drift, 3 drift found, 1 failed, 2 usage error.

Examples:
  anew status --app web
  anew status --app web --environment production --json`;

const status_: Command = async (args, log) => {
  const { raw, help, json } = parseFlags(args, spec);
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let req: { settings: typeof DEFAULT_SETTINGS; app: string | undefined; environment: string | undefined };
  try {
    const r = new InputReader(spec, raw, {
      name: (k) => `--${k}`,
      short: (k) => `--${k}`,
      missingHint: () => 'See anew status --help',
      mask: (s) => log.setSecret(s),
    });
    const environment = r.given('environment') ? r.environmentName('environment') : undefined;
    const config = loadConfig(r.str('config'), { required: r.given('config') });
    const settings = environment ? resolveSettings(config, environment, {}) : { ...DEFAULT_SETTINGS };
    Object.assign(
      settings,
      settingsFromStrings(
        SETTING_OPTIONS,
        (k) => r.optional(k),
        (k) => r.name(k),
      ),
    );
    req = { settings, app: r.optional('app') ?? config.app, environment };
  } catch (e) {
    if (isUserError(e)) throw new UsageError((e as Error).message, undefined, { cause: e });
    throw e;
  }
  const envs = await withInfra(req.settings, log, (infra) =>
    status(infra, { app: req.app, environment: req.environment }),
  );
  process.stdout.write(`${json ? JSON.stringify(envs, null, 2) : formatStatus(envs)}\n`);
  return envs.some((e) => e.drift.length > 0) ? 3 : 0;
};

export default status_;
