import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InputSpecs } from '@anew/action';
import { describe, expect, it } from 'vitest';
import { closest, parseFlags } from '../src/flags.ts';

const spec: InputSpecs = {
  environment: { description: 'e', group: 'g' },
  'docker-host': { description: 'd', group: 'g', multiline: true },
  env: { description: 'v', group: 'g', multiline: true },
  'dry-run': { description: 'r', group: 'g', boolean: true },
  cache: { description: 'c', group: 'g', boolean: true, default: 'true' },
  'registry-password': { description: 'p', group: 'g', secret: true, env: 'ANEW_REGISTRY_PASSWORD' },
};

describe('anew CLI options', () => {
  it.each([
    [['--environment', 'production'], { environment: 'production' }],
    [['--environment=pr-7', '--dry-run'], { environment: 'pr-7', 'dry-run': 'true' }],
    // Every way to write a switch.
    [['--cache'], { cache: 'true' }],
    [['--no-cache'], { cache: 'false' }],
    [['--cache=false'], { cache: 'false' }],
    [['--cache', 'false'], { cache: 'false' }],
    [['--cache', '--environment', 'x'], { cache: 'true', environment: 'x' }],
    // Repeated options become lines, like a multi-line input.
    [
      ['--docker-host', 'unix:///a.sock', '--docker-host', 'ssh://web-2'],
      { 'docker-host': 'unix:///a.sock\nssh://web-2' },
    ],
    [['--env', 'A=x=y'], { env: 'A=x=y' }],
  ])('%j', (args, want) => {
    expect(parseFlags(args, spec, { env: {} }).raw).toEqual(want);
  });

  it('reads a secret from stdin, a file or its environment variable, never only from argv', () => {
    expect(parseFlags(['--registry-password-stdin'], spec, { stdin: () => 's3cret\n' }).raw).toEqual({
      'registry-password': 's3cret',
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-flags-'));
    fs.writeFileSync(path.join(dir, 'pw'), 'from-file\n');
    expect(parseFlags(['--registry-password-file', path.join(dir, 'pw')], spec, { env: {} }).raw).toEqual({
      'registry-password': 'from-file',
    });
    fs.rmSync(dir, { recursive: true });
    const fromEnv = parseFlags([], spec, { env: { ANEW_REGISTRY_PASSWORD: 'from-env' } });
    expect(fromEnv.raw).toEqual({ 'registry-password': 'from-env' });
    expect(fromEnv.fromEnv).toEqual({ 'registry-password': 'ANEW_REGISTRY_PASSWORD' });
    // A flag that ps shows is noted, so the command can warn.
    expect(parseFlags(['--registry-password', 'x'], spec, { env: {} }).exposed).toEqual([
      'registry-password',
    ]);
  });

  it.each([
    [['production'], /unexpected argument "production"/],
    [['--colour', 'blue'], /unknown option --colour/],
    [['--enviroment', 'x'], /unknown option --enviroment\. Did you mean --environment\?/],
    [['--environment'], /option --environment needs a value/],
    [['--cache=maybe'], /--cache is "maybe", not a boolean/],
    [['--environment', 'a', '--environment', 'b'], /--environment is given twice/],
  ])('refuses %j', (args, message) => {
    expect(() => parseFlags(args, spec, { env: {} })).toThrow(message);
  });

  it('suggests the closest word', () => {
    expect(closest('delpoy', ['deploy', 'flip'])).toBe('deploy');
    expect(closest('xyz', ['deploy', 'flip'])).toBeUndefined();
  });
});
