import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  environmentSettings,
  type SettingKey,
  type Settings,
} from '../src/config/index.ts';
import { settingsFollowingRoute } from '../src/release/flip.ts';
import { newReleaseId, targetName } from '../src/release/ids.ts';
import type { RouteState } from '../src/routers/index.ts';

describe('release ids and target names', () => {
  it('sort by time and carry a random part shared with the target name', () => {
    const id = newReleaseId(new Date('2026-11-26T12:45:01.123Z'), '3fa9c2');
    expect(id).toBe('20261126-124501-3fa9c2');
    expect(targetName('web', 'pr-42', `sha256:${'1a2b3c4d5e6f'.repeat(5)}abcd`, id)).toBe(
      'anew-web-pr-42-1a2b3c4d5e6f-3fa9c2',
    );
  });

  it('stay unique when the same digest is deployed twice in one second', () => {
    const now = new Date();
    const ids = new Set(Array.from({ length: 50 }, () => newReleaseId(now)));
    expect(ids.size).toBe(50);
  });
});

describe('defaults that follow the live route', () => {
  const route: RouteState = {
    app: 'web',
    environment: 'production',
    hosts: ['www.example.com', 'example.com'],
    listen: '127.0.0.1:31535',
    backends: [],
    history: [],
    version: '',
  };

  it('knows which settings were given (override or anew.yml) and which were defaulted', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-given-'));
    try {
      const file = path.join(dir, 'anew.yml');
      fs.writeFileSync(
        file,
        'app: web\ndefaults:\n  keep: 3\nenvironments:\n  production:\n    hosts: [example.com]\n',
      );
      const { given } = environmentSettings({
        configFile: file,
        environment: 'production',
        app: undefined,
        repository: undefined,
        overrides: { strategy: 'canary' },
      });
      expect([...given].sort()).toEqual(['hosts', 'keep', 'strategy']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    { given: [], want: { listen: '127.0.0.1:31535', hosts: ['www.example.com', 'example.com'] } },
    {
      given: ['listen', 'hosts'],
      listen: '127.0.0.1:31535',
      hosts: ['Example.com', 'www.example.com'],
      want: { listen: '127.0.0.1:31535', hosts: ['www.example.com', 'example.com'] },
    },
    {
      given: ['listen'],
      listen: ':8080',
      error: /is served on 127\.0\.0\.1:31535, not :8080.*Pass listen 127\.0\.0\.1:31535/,
    },
    {
      given: ['hosts'],
      hosts: [],
      error: /is served for hosts example\.com, www\.example\.com, not any host/,
    },
  ] as { given: SettingKey[]; listen?: string; hosts?: string[]; want?: object; error?: RegExp }[])(
    'given $given',
    ({ given, listen, hosts, want, error }) => {
      const settings: Settings = { ...DEFAULT_SETTINGS, listen: listen ?? ':8080', hosts: hosts ?? [] };
      const follow = () => settingsFollowingRoute(settings, route, new Set(given));
      if (error) expect(follow).toThrow(error);
      else expect(follow()).toMatchObject(want!);
    },
  );

  it('without a route, the settings stand', () => {
    expect(settingsFollowingRoute(DEFAULT_SETTINGS, undefined)).toBe(DEFAULT_SETTINGS);
  });
});
