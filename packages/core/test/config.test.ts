import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import schema from '../../../schema/anew.schema.json' with { type: 'json' };
import {
  checkConfig,
  DEFAULT_SETTINGS,
  environmentSettings,
  loadConfig,
  parseSetting,
  resolveSettings,
  settingsFromStrings,
} from '../src/config/index.ts';

const config = checkConfig({
  app: 'web',
  defaults: { 'router-url': 'http://10.0.0.1:2019', keep: 3, 'health-path': '/healthz' },
  environments: {
    production: {
      hosts: ['example.com', 'www.example.com'],
      listen: ':443',
      strategy: 'canary',
      steps: [5, 25, 100],
    },
    'pr-*': { hosts: '{env}.preview.example.com', keep: 0, 'health-timeout': '2m' },
  },
});

describe('anew.yml', () => {
  it('is a valid JSON Schema (draft-07) that ajv compiles strictly', () => {
    expect(() => new Ajv({ strict: true, allowUnionTypes: true }).compile(schema)).not.toThrow();
  });

  it('accepts the example shipped beside the schema', () => {
    const example = loadConfig(path.join(import.meta.dirname, '../../../schema/anew.example.yml'), {
      required: true,
    });
    expect(resolveSettings(example, 'pr-3', {}).hosts).toEqual(['pr-3.preview.example.com']);
    expect(resolveSettings(example, 'production', {})['docker-host']).toHaveLength(2);
  });

  it('layers defaults, the environment, then inputs', () => {
    const s = resolveSettings(config, 'production', { keep: 1 });
    expect(s).toMatchObject({
      'router-url': 'http://10.0.0.1:2019',
      'health-path': '/healthz',
      hosts: ['example.com', 'www.example.com'],
      listen: ':443',
      strategy: 'canary',
      steps: [5, 25, 100],
      keep: 1,
      network: DEFAULT_SETTINGS.network,
    });
  });

  it('applies templates to matching environments, with {env} in hosts', () => {
    const s = resolveSettings(config, 'pr-42', {});
    expect(s.hosts).toEqual(['pr-42.preview.example.com']);
    expect(s.keep).toBe(0);
    expect(s['health-timeout']).toBe(120_000);
    expect(resolveSettings(config, 'staging', {}).hosts).toEqual([]);
  });

  it.each([
    [{ environments: { production: { kep: 2 } } }, /environments\.production\.kep is not a known key/],
    [{ environments: { production: { keep: 'two' } } }, /environments\.production\.keep must be integer/],
    [
      { environments: { production: { strategy: 'rolling' } } },
      /environments\.production\.strategy must be equal to one of the allowed values: blue-green, canary/,
    ],
    [{ environments: { Production: {} } }, /environments\.Production/],
    [{ defaults: { 'health-timeout': 'soon' } }, /defaults\.health-timeout/],
    [{ app: 'My App' }, /app must match pattern/],
  ])('points at the offending key: %j', (doc, message) => {
    expect(() => checkConfig(doc)).toThrow(message);
  });

  it('loads a file; a missing default file is an empty config, a missing named one an error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-config-'));
    try {
      const file = path.join(dir, 'anew.yml');
      fs.writeFileSync(file, 'app: shop\nenvironments:\n  production:\n    keep: 4\n');
      expect(loadConfig(file)).toEqual({ app: 'shop', environments: { production: { keep: 4 } } });
      expect(loadConfig(path.join(dir, 'nope.yml'))).toEqual({});
      expect(() => loadConfig(path.join(dir, 'nope.yml'), { required: true })).toThrow(/does not exist/);
      fs.writeFileSync(file, 'app: [');
      expect(() => loadConfig(file)).toThrow(/is not valid YAML/);
      fs.writeFileSync(file, 'app: shop\nenvironments:\n  production:\n    keep: 4\n');
      const { app, settings } = environmentSettings({
        configFile: file,
        environment: 'production',
        app: undefined,
        repository: 'acme/Web_Site',
        overrides: {},
      });
      expect([app, settings.keep]).toEqual(['shop', 4]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to the repository name for the app', () => {
    const { app } = environmentSettings({
      configFile: 'anew.yml',
      environment: 'production',
      app: undefined,
      repository: 'acme/Web_Site',
      overrides: {},
    });
    expect(app).toBe('web-site');
  });
});

describe('settings from strings (inputs, options)', () => {
  it.each([
    ['docker-host', 'unix:///a.sock\nssh://deploy@web-2\n', ['unix:///a.sock', 'ssh://deploy@web-2']],
    ['hosts', 'a.example, b.example', ['a.example', 'b.example']],
    ['steps', '10,50', [10, 50, 100]],
    ['health-timeout', '90', 90_000],
    ['interval', '500ms', 500],
    ['max-error-rate', '2%', 0.02],
    ['env', 'A=1\nB=x=y', { A: '1', B: 'x=y' }],
    ['require-provenance', 'yes', true],
    ['router', 'haproxy', 'haproxy'],
    ['router-url', 'https://web1.example:2019', 'https://web1.example:2019'],
    ['router-url', 'unix:///run/haproxy-master.sock', 'unix:///run/haproxy-master.sock'],
    [
      'router-url',
      'ssh://deploy@web1:2222/run/haproxy/master.sock',
      'ssh://deploy@web1:2222/run/haproxy/master.sock',
    ],
    ['router-url', 'ssh://web1/127.0.0.1:2019', 'ssh://web1/127.0.0.1:2019'],
    ['router-config', '/etc/haproxy/anew.d/', '/etc/haproxy/anew.d'],
  ] as const)('%s: %j', (key, value, want) => {
    expect(parseSetting(key, value, `input "${key}"`)).toEqual(want);
  });

  it.each([
    ['steps', '50,10', /rising percentages/],
    ['max-error-rate', '1.5', /share from 0 to 1/],
    ['listen', 'localhost', /with a port/],
    ['env', 'NOEQUALS', /KEY=VALUE/],
    ['strategy', 'rolling', /blue-green, canary/],
    ['keep', '-1', /whole number/],
    ['router', 'nginx', /caddy, haproxy/],
    ['router-url', 'http://admin:pw@web1:2019', /user name or password/],
    ['router-url', 'http://web1:2019/config', /only the admin API/],
    ['router-url', 'unix://relative.sock', /unix:\/\/\/run\/haproxy-master/],
    ['router-url', 'ssh://deploy@web1', /admin address on that host/],
    ['router-url', 'ssh://deploy:pw@web1/run/x.sock', /password/],
    ['router-url', 'ftp://web1/', /http:\/\/ or https:\/\/ or unix:\/\/ or ssh:\/\//],
    ['router-url', 'unix:///run/\u0007.sock', /control/],
    ['router-config', 'anew.d', /absolute path/],
    ['router-config', '/etc/../tmp', /absolute path/],
    ['router-ca', 'not a pem', /not a PEM certificate/],
  ] as const)('refuses %s %j, naming the input', (key, value, message) => {
    expect(() => parseSetting(key, value, `input "${key}"`)).toThrow(new RegExp(`input "${key}".*`));
    expect(() => parseSetting(key, value, `input "${key}"`)).toThrow(message);
  });

  it('takes only the keys that are given', () => {
    const got = settingsFromStrings(
      ['keep', 'listen', 'hosts'],
      (k) => ({ keep: '5', listen: '' })[k as string],
      (k) => k,
    );
    expect(got).toEqual({ keep: 5 });
  });
});

describe('router-key', () => {
  const key =
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+secret+material\n-----END PRIVATE KEY-----';
  it('is a PEM key, refused without quoting what was given', () => {
    expect(parseSetting('router-key', `${key}\n`, 'input "router-key"')).toBe(key);
    const bad = 'hunter2-not-a-key';
    expect(() => parseSetting('router-key', bad, 'input "router-key"')).toThrow(/not a PEM private key/);
    try {
      parseSetting('router-key', bad, 'input "router-key"');
    } catch (e) {
      expect(String((e as Error).message)).not.toContain(bad);
    }
  });
  it('is never a key of anew.yml (a committed file is no place for a secret)', () => {
    expect(() => checkConfig({ defaults: { 'router-key': key } })).toThrow(/router-key is not a known key/);
    expect(
      resolveSettings(
        checkConfig({ defaults: { 'router-ca': key.replaceAll('PRIVATE KEY', 'CERTIFICATE') } }),
        'x',
        {},
      )['router-ca'],
    ).toContain('BEGIN CERTIFICATE');
  });
});

describe('renamed keys', () => {
  it('an old "target:" key says it is now "driver"', () => {
    expect(() => checkConfig({ environments: { production: { target: 'docker' } } })).toThrow(
      /environments\.production\.target is now called "driver"/,
    );
    expect(() => checkConfig({ defaults: { target: 'docker' } })).toThrow(
      /defaults\.target is now called "driver"/,
    );
    expect(resolveSettings(checkConfig({ defaults: { driver: 'docker' } }), 'x', {}).driver).toBe('docker');
  });
});
