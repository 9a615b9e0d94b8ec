import { describe, expect, it } from 'vitest';
import { parseFlags } from '../src/flags.ts';

const spec = { values: ['environment', 'docker-host', 'env'], booleans: ['dry-run', 'all'] };

describe('anew CLI options', () => {
  it.each([
    [['--environment', 'production'], { environment: 'production' }],
    [['--environment=pr-7', '--dry-run'], { environment: 'pr-7', 'dry-run': 'true' }],
    [['--all=false'], { all: 'false' }],
    // Repeated options become lines, like a multi-line input.
    [
      ['--docker-host', 'unix:///a.sock', '--docker-host', 'ssh://web-2'],
      { 'docker-host': 'unix:///a.sock\nssh://web-2' },
    ],
    [['--env', 'A=x=y'], { env: 'A=x=y' }],
  ])('%j', (args, want) => {
    expect(parseFlags(args, spec)).toEqual(want);
  });

  it.each([
    [['production'], /unexpected argument "production"/],
    [['--colour', 'blue'], /unknown option --colour/],
    [['--environment'], /option --environment needs a value/],
  ])('refuses %j', (args, message) => {
    expect(() => parseFlags(args, spec)).toThrow(message);
  });
});
