import {
  SETTINGS,
  type SettingAction,
  type SettingKey,
  settingDescription,
  settingsOf,
} from '@anew/core/config';

/**
 * The declaration of an action's inputs and outputs: one place per action
 * from which action.yml is generated (`npm run gen`), the runner's inputs
 * and the CLI's options are read, and the CLI's help is written.
 */
export interface InputSpec {
  description: string;
  required?: boolean;
  /** The value when the input is not given, applied in code whatever the source (and shown in action.yml). */
  default?: string;
  /** A switch: the CLI takes --name, --no-name, --name=false. */
  boolean?: boolean;
  /** Masked in the log and the summary; the CLI also reads it from stdin, a file, or `env`. */
  secret?: boolean;
  /** The environment variable the CLI reads it from when no option gives it. */
  env?: string;
  /** Several lines (lists, PEM keys); every other input is refused with a line break in it. */
  multiline?: boolean;
  /** Longest value accepted (default: 4096 characters on one line, 256 KiB multi-line). */
  max?: number;
  /** Heading of the CLI's help under which it is listed. */
  group: string;
  /** What the runner fills in from the workflow context (e.g. the job's token); never a value in code. */
  runnerDefault?: string;
  /** An environment setting: anew.yml may set it, so action.yml gives it no default. */
  setting?: SettingKey;
}

export type InputSpecs = Readonly<Record<string, InputSpec>>;

export interface ActionSpec {
  /** As in anew/<name>. */
  name: string;
  description: string;
  inputs: InputSpecs;
  outputs: Readonly<Record<string, { description: string }>>;
  /** Hidden from the CLI's command list (an action whose issue has not landed yet). */
  hidden?: boolean;
  /** A post step (actions/<name>/src/post.ts) and the condition it runs on, e.g. `cancelled()`. */
  postIf?: string;
}

/** The inputs that carry the settings an action takes, declared from the settings themselves. */
export function settingInputs(action: SettingAction, group: (key: SettingKey) => string): InputSpecs {
  return Object.fromEntries(
    settingsOf(action).map((key) => [
      key,
      {
        description: settingDescription(key),
        multiline: SETTINGS[key].multiline,
        boolean: typeof SETTINGS[key].default === 'boolean' || undefined,
        group: group(key),
        setting: key,
        secret: SETTINGS[key].secret ? true : undefined,
        env: SETTINGS[key].secret?.env,
      } satisfies InputSpec,
    ]),
  );
}

/** The usual help group of a setting. */
export function settingGroup(key: SettingKey): string {
  if (key.startsWith('router') || ['hosts', 'listen'].includes(key)) return 'Router';
  if (['strategy', 'steps', 'interval', 'max-error-rate'].includes(key)) return 'Canary';
  return 'Target';
}

/** `spec` without some inputs (e.g. the image a step gets from the step before). */
export function omitInputs(spec: InputSpecs, ...keys: string[]): InputSpecs {
  return Object.fromEntries(Object.entries(spec).filter(([k]) => !keys.includes(k)));
}
