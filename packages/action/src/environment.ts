import { environmentSettings, type SettingKey, type Settings, settingsFromStrings } from '@anew/core/config';
import * as input from './inputs.ts';

/**
 * The environment an action works on and its settings: anew.yml's values for
 * that environment (or its template, e.g. pr-*), overridden by the inputs
 * named in `keys` that the step sets. Kept apart from inputs.ts because it
 * loads the config validator, which the build and provenance actions never need.
 */
export function readEnvironment(keys: readonly SettingKey[]): {
  environment: string;
  app: string;
  settings: Settings;
  given: ReadonlySet<SettingKey>;
} {
  const environment = input.environmentName('environment');
  const overrides = settingsFromStrings(
    keys,
    (k) => input.optional(k),
    (k) => `input "${k}"`,
  );
  const { app, settings, given } = environmentSettings({
    configFile: input.str('config'),
    environment,
    app: input.optional('app'),
    repository: process.env['GITHUB_REPOSITORY'],
    overrides,
  });
  return { environment, app, settings, given };
}
