import {
  environmentSettings,
  type SettingAction,
  type SettingKey,
  type Settings,
  settingsFromStrings,
  settingsOf,
} from '@anew/core/config';
import type { InputReader } from './reader.ts';

/**
 * The environment an action works on and its settings: anew.yml's values for
 * that environment (or its template, e.g. pr-*), overridden by the settings
 * the action takes as inputs that the step sets. Kept apart from the reader
 * because it loads the config validator, which the build and provenance
 * actions never need.
 */
export function readEnvironment(
  r: InputReader,
  action: SettingAction,
): { environment: string; app: string; settings: Settings; given: ReadonlySet<SettingKey> } {
  const environment = r.environmentName('environment');
  const overrides = settingsFromStrings(
    settingsOf(action),
    (k) => r.optional(k),
    (k) => r.name(k),
  );
  const { app, settings, given } = environmentSettings({
    configFile: r.str('config'),
    environment,
    app: r.optional('app'),
    repository: process.env['GITHUB_REPOSITORY'],
    overrides,
  });
  return { environment, app, settings, given };
}
