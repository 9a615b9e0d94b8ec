import { describe, expect, it } from 'vitest';
import {
  checkCpus,
  checkHost,
  checkListen,
  checkMemory,
  checkText,
  checkUrl,
  parseSetting,
} from '../src/config/index.ts';

/** Values checked by type, whatever their source (input, option, anew.yml). */
describe('values by type', () => {
  it.each([
    ['app.example.com', 'app.example.com'],
    ['*.preview.example.com', '*.preview.example.com'],
    ['Example.COM', 'example.com'],
    ['localhost', 'localhost'],
  ])('host %j', (v, want) => expect(checkHost(v, 'hosts')).toBe(want));

  it.each([
    ['*', /hosts has "\*"/],
    ['*.*.example.com', /hosts has/],
    ['a.*.example.com', /hosts has/],
    ['-a.example.com', /hosts has/],
    ['a_b.example.com', /hosts has/],
    [`${'a'.repeat(64)}.example.com`, /hosts has/],
    [`${'a.'.repeat(130)}com`, /at most 253 characters/],
    ['evil\u202ecom.example', /control character U\+202E/],
    ['a.example.com\n::error::X', /line break/],
  ])('refuses host %j', (v, message) => expect(() => checkHost(v, 'hosts')).toThrow(message));

  it.each([':8080', '127.0.0.1:80', '[::1]:8080', 'localhost:443'])('listen %j', (v) =>
    expect(checkListen(v, 'listen')).toBe(v),
  );

  it.each(['x\n::error::Y\n127.0.0.1:39871', 'localhost', ':0', ':65536', 'a b:80', 'http://x:80'])(
    'refuses listen %j (anchored at both ends)',
    (v) => expect(() => checkListen(v, 'listen')).toThrow(/listen/),
  );

  it.each([
    ['http://127.0.0.1:2019', ['http', 'https']],
    ['https://caddy.internal:2019/', ['http', 'https']],
    ['ssh://deploy@web-1', ['ssh']],
    ['ssh://web-1', ['ssh']],
    ['unix:///var/run/docker.sock', ['unix']],
  ] as const)('url %j', (v, schemes) => expect(checkUrl(v, 'url', schemes)).toBe(v));

  it.each([
    ['http://user@127.0.0.1:2019', /carries a user name or password/],
    ['https://user:pw@caddy:2019', /carries a user name or password/],
    ['ftp://x', /Use a http:\/\/ or https:\/\/ URL/],
    ['not a url', /not a URL/],
    ['http://', /not a URL|no host/],
  ])('refuses url %j', (v, message) => expect(() => checkUrl(v, 'url', ['http', 'https'])).toThrow(message));

  it('refuses an ssh URL with a password', () => {
    expect(() => checkUrl('ssh://deploy:pw@web-1', 'docker-host', ['ssh'])).toThrow(/carries a password/);
  });

  it.each(['256m', '1g', '512000k', '1073741824'])('memory %j', (v) =>
    expect(checkMemory(v, 'memory')).toBe(v),
  );
  it.each(['256m\n::warning::X', '0', '-1m', '1.5g', '256mb', ''])('refuses memory %j', (v) =>
    expect(() => checkMemory(v, 'memory')).toThrow(/memory/),
  );
  it.each(['0.5', '2', '1.25'])('cpus %j', (v) => expect(checkCpus(v, 'cpus')).toBe(v));
  it.each(['0', 'x', '1e3', '0.5\n::error::X'])('refuses cpus %j', (v) =>
    expect(() => checkCpus(v, 'cpus')).toThrow(/cpus/),
  );

  it('refuses control characters, line breaks in one-line values, and values too long', () => {
    expect(() => checkText('a\u0007b', 'x')).toThrow(/control character U\+0007/);
    expect(() => checkText('a\u001b[31mb', 'x')).toThrow(/control character U\+001B/);
    expect(() => checkText('a\u2066b', 'x')).toThrow(/control character U\+2066/);
    expect(() => checkText('a\nb', 'x')).toThrow(/line break/);
    expect(() => checkText('a\rb', 'x')).toThrow(/line break/);
    expect(checkText('a\nb', 'x', { multiline: true })).toBe('a\nb');
    expect(checkText('tab\there', 'x')).toBe('tab\there');
    expect(() => checkText('a'.repeat(10 * 1024), 'x')).toThrow(
      /is 10240 characters long. Give at most 4096/,
    );
    expect(checkText('é ü 日本', 'x')).toBe('é ü 日本');
  });

  it('a refused value is quoted escaped in the message: it never starts a line', () => {
    expect(() => checkText('/\n::error::INJECTED', 'input "health-path"')).toThrow(
      'input "health-path" holds a line break: "/\\n::error::INJECTED"',
    );
  });

  it.each([
    ['health-path', '/\n::error::INJECTED', /line break/],
    ['health-path', '/health check', /starts with \//],
    ['memory', '256m\n::warning::X', /line break/],
    ['network', 'my net', /letters, digits/],
    ['hosts', '*', /a bare \* is refused/],
    ['hosts', 'a.example.com,*', /a bare \* is refused/],
    ['router-url', 'http://admin:pw@127.0.0.1:2019', /carries a user name or password/],
    ['docker-host', 'unix:///a.sock\nssh://u:p@h', /carries a password/],
    ['docker-host', 'http://engine:2375', /Use a unix:\/\/ or tcp:\/\/ or ssh:\/\//],
    ['listen', 'x\n::error::Y\n127.0.0.1:39871', /line break/],
  ] as const)('setting %s refuses %j', (key, value, message) => {
    expect(() => parseSetting(key, value, `input "${key}"`)).toThrow(message);
  });

  it('keeps {env} in host templates, checked as a label', () => {
    expect(parseSetting('hosts', '{env}.preview.example.com', 'hosts')).toEqual([
      '{env}.preview.example.com',
    ]);
  });
});
