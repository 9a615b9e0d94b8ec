import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildConfig,
  collectEntries,
  epochToRfc3339,
  parseCommand,
  parseFileMappings,
  parsePlatform,
  resolveContext,
  samePlatform,
} from '@anew/core/image';
import { afterAll, describe, expect, it } from 'vitest';

const D = `sha256:${'d'.repeat(64)}` as const;

describe('entrypoint and cmd', () => {
  it.each([
    ['["/server", "--port", "8080"]', ['/server', '--port', '8080']],
    ['/bin/busybox httpd -f -p 8080', ['/bin/busybox', 'httpd', '-f', '-p', '8080']],
    [`sh -c 'echo "hi there"; exit 0'`, ['sh', '-c', 'echo "hi there"; exit 0']],
    ['echo "a \\"quoted\\" word" b\\ c', ['echo', 'a "quoted" word', 'b c']],
    ['  spaced   out  ', ['spaced', 'out']],
    ['""', ['']],
  ])('%s', (input, expected) => {
    expect(parseCommand(input, 'input "cmd"')).toEqual(expected);
  });

  it.each([
    ['["a", 1]', /not an array of strings/],
    ['[not json', /not valid JSON/],
    ["echo 'open", /unterminated single quote/],
    ['echo "open', /unterminated double quote/],
  ])('refuses %s', (input, message) => {
    expect(() => parseCommand(input, 'input "cmd"')).toThrow(message);
  });
});

describe('platforms', () => {
  it('parses and compares, arm64 with or without v8', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(samePlatform(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8'))).toBe(true);
    expect(samePlatform(parsePlatform('linux/amd64'), parsePlatform('linux/arm64'))).toBe(false);
    expect(() => parsePlatform('amd64')).toThrow(/not a platform.*os\/architecture/);
  });
});

describe('image config', () => {
  const base = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], Entrypoint: null, WorkingDir: '/', Labels: { x: '1' } },
    rootfs: { type: 'layers', diff_ids: [`sha256:${'b'.repeat(64)}`] },
    history: [{ created_by: 'base' }],
  };

  it('applies settings like a Dockerfile would: an entrypoint alone clears the base command', () => {
    const c = buildConfig({
      base,
      platform: { os: 'linux', architecture: 'amd64' },
      settings: { entrypoint: ['/server'], env: { A: '2', B: '3' }, labels: { y: '2' }, user: '1000' },
      diffId: D,
      epoch: 1700000000,
    });
    expect(c.created).toBe('2023-11-14T22:13:20Z');
    expect(c.config.Entrypoint).toEqual(['/server']);
    expect(c.config.Cmd).toBeUndefined();
    expect(c.config.Env).toEqual(['PATH=/bin', 'A=2', 'B=3']);
    expect(c.config.Labels).toEqual({ x: '1', y: '2' });
    expect(c.config.User).toBe('1000');
    expect(c.rootfs.diff_ids).toEqual([base.rootfs.diff_ids[0], D]);
    expect(c.history).toHaveLength(2);
  });

  it('keeps history consistent: none from a base without one, one entry from scratch', () => {
    const p = { os: 'linux', architecture: 'amd64' };
    const settings = { env: {}, labels: {} };
    expect(
      buildConfig({ base: { ...base, history: undefined }, platform: p, settings, diffId: D, epoch: 0 })
        .history,
    ).toBe(undefined);
    const scratch = buildConfig({ base: undefined, platform: p, settings, diffId: D, epoch: 0 });
    expect(scratch.history).toEqual([{ created: '1970-01-01T00:00:00Z', created_by: 'anew build: files' }]);
    expect(scratch.rootfs.diff_ids).toEqual([D]);
    expect(epochToRfc3339(0)).toBe('1970-01-01T00:00:00Z');
  });
});

describe('files stay inside the context', () => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-outside-'));
  const ctx = path.join(outside, 'ctx');
  fs.mkdirSync(path.join(ctx, 'site'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'secret'), 'secret');
  fs.writeFileSync(path.join(ctx, 'site/index.html'), 'hi');
  fs.mkdirSync(path.join(ctx, 'escape'));
  fs.symlinkSync('../../secret', path.join(ctx, 'escape/link'));
  fs.symlinkSync('../secret', path.join(ctx, 'top-link'));
  fs.mkdirSync(path.join(ctx, 'abs'));
  fs.symlinkSync(path.join(ctx, 'site/index.html'), path.join(ctx, 'abs/link'));
  afterAll(() => fs.rmSync(outside, { recursive: true, force: true }));

  it.each([
    ['../secret:/s', /"\.\.\/secret" in input "files" is outside the context/],
    ['top-link:/s', /is a symlink to ".*secret", outside the context/],
    ['escape/:/e/', /"escape\/link" in the context is a symlink to "..\/..\/secret", outside the context/],
    ['abs/:/a/', /symlink to the absolute path/],
    ['missing:/m', /does not exist in the context/],
    ['/etc/passwd:/p', /absolute source/],
    ['site/:www', /not absolute/],
    ['site', /not SOURCE:DESTINATION/],
  ])('%s is refused', (line, message) => {
    expect(() => collectEntries(resolveContext(ctx), parseFileMappings([line]))).toThrow(message);
  });

  it('refuses a missing context and a destination written twice', () => {
    expect(() => resolveContext(path.join(outside, 'nope'))).toThrow(/context ".*nope" does not exist/);
    expect(() =>
      collectEntries(resolveContext(ctx), parseFileMappings(['site/index.html:/i', 'site/index.html:/i'])),
    ).toThrow(/"\/i" is written twice/);
  });

  it('takes a colon in a source name', () => {
    fs.writeFileSync(path.join(ctx, 'a:b.txt'), 'x');
    expect(
      collectEntries(resolveContext(ctx), parseFileMappings(['a:b.txt:/c.txt'])).map((e) => e.path),
    ).toEqual(['c.txt']);
    fs.rmSync(path.join(ctx, 'a:b.txt'));
  });

  it('emits every parent directory, sorted', () => {
    const entries = collectEntries(
      resolveContext(ctx),
      parseFileMappings(['site/:/srv/www/', 'site/index.html:/a/']),
    );
    expect(entries.map((e) => `${e.type}:${e.path}:${e.mode.toString(8)}`)).toEqual([
      'dir:a:755',
      'file:a/index.html:644',
      'dir:srv:755',
      'dir:srv/www:755',
      'file:srv/www/index.html:644',
    ]);
  });
});
