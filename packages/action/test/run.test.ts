import { SecretMasker } from '@anew/core/log';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { actionsLogger, outputText } from '../src/index.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the actions logger', () => {
  it('prints a message on one line: nothing in it can start a workflow command', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      written.push(String(s));
      return true;
    });
    actionsLogger(new SecretMasker()).info('Route a/b on x\n::error::Y\n127.0.0.1:1');
    expect(written.join('')).toBe('Route a/b on x%0A::error::Y%0A127.0.0.1:1\n');
  });

  it('registers a secret with the runner and with the masker the summary uses', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      written.push(String(s));
      return true;
    });
    const masker = new SecretMasker();
    actionsLogger(masker).setSecret('s3cret-token');
    expect(written.join('')).toContain('::add-mask::s3cret-token');
    expect(masker.mask('echoed s3cret-token')).toBe('echoed ***');
  });
});

describe('outputs', () => {
  it('are written as text, a list one item per line', () => {
    expect([outputText(['a', 'b']), outputText(true), outputText(3), outputText('x')]).toEqual([
      'a\nb',
      'true',
      '3',
      'x',
    ]);
  });
});
