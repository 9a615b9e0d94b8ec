import { SETTINGS, type SettingKey, settingKeys } from './settings.ts';

/**
 * The JSON Schema of anew.yml, made from the settings' declarations:
 * schema/anew.schema.json is this, written by `npm run gen` (a test checks
 * that the committed file matches).
 */
export function anewSchema(): Record<string, unknown> {
  const settings = Object.fromEntries(
    settingKeys()
      .filter((k) => !SETTINGS[k].secret)
      .map((k) => [k, { description: settingDescription(k), ...SETTINGS[k].schema }]),
  );
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://anew.dev/schema/anew.schema.json',
    title: 'anew.yml',
    description:
      "An app's environments for anew: where releases run, how traffic reaches them, how they are checked. Values are defaults; action inputs and CLI options override them.",
    type: 'object',
    additionalProperties: false,
    properties: {
      app: {
        description: 'Application name: part of target names, labels and route ids.',
        $ref: '#/definitions/name',
      },
      defaults: { description: 'Settings every environment starts from.', $ref: '#/definitions/settings' },
      environments: {
        description:
          "Settings per environment. A key with * is a template (e.g. pr-* for pull-request previews); {env} in hosts becomes the environment's name.",
        type: 'object',
        propertyNames: { pattern: '^[a-z0-9*]([a-z0-9*-]{0,61}[a-z0-9*])?$' },
        additionalProperties: { $ref: '#/definitions/settings' },
      },
    },
    definitions: {
      name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' },
      duration: {
        description: 'A duration: 500ms, 30s, 5m, 1h, or a number of seconds.',
        oneOf: [
          { type: 'number', minimum: 0 },
          { type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h)?$' },
        ],
      },
      stringOrList: {
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string', minLength: 1 } }],
      },
      settings: { type: 'object', additionalProperties: false, properties: settings },
    },
  };
}

/** A setting's description with its default, as the schema and action.yml show it. */
export function settingDescription(key: SettingKey): string {
  const s = SETTINGS[key];
  return s.shownDefault === undefined
    ? s.description
    : `${s.description} Default: ${s.shownDefault}, unless anew.yml sets it.`;
}
