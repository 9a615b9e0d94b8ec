import { describe, expect, it } from 'vitest';
import { Exec } from '../src/exec/index.ts';
import {
  ConsoleLogger,
  escapeData,
  formatBytes,
  MemoryLogger,
  oneLine,
  SecretMasker,
} from '../src/log/index.ts';

describe('values in the log never start a line', () => {
  it('escapes %, CR and LF as the toolkit escapes command values', () => {
    expect(escapeData('/\n::error::INJECTED')).toBe('/%0A::error::INJECTED');
    expect(escapeData('50%\r\n')).toBe('50%25%0D%0A');
    expect(oneLine('a\n::warning::X')).toBe('a%0A::warning::X');
  });

  it('the Running: line shows every argument on one line', async () => {
    const log = new MemoryLogger();
    await new Exec(log).run('true', ['--health', '/\n::error::INJECTED', '100%']);
    expect(log.lines).toEqual([`info: Running: true --health '/%0A::error::INJECTED' '100%25'`]);
  });
});

describe('SecretMasker', () => {
  it('masks a secret, each line of a multi-line one, and the longest first', () => {
    const m = new SecretMasker();
    m.add('-----BEGIN KEY-----\nabcdefgh\n-----END KEY-----');
    m.add('token-1');
    m.add('token-12345');
    m.add('ab');
    expect(m.mask('key abcdefgh; token-12345 and token-1; ab')).toBe('key ***; *** and ***; ab');
  });
});

describe('ConsoleLogger progress', () => {
  const collect = (terminal: boolean) => {
    const lines: string[] = [];
    const status: string[] = [];
    const log = new ConsoleLogger((l) => lines.push(l), false, terminal ? (t) => status.push(t) : undefined);
    return { log, lines, status };
  };

  it('on a terminal: a status line with the phase under way and bytes with their rate', async () => {
    const { log, lines, status } = collect(true);
    await log.group('Upload layers', async () => {
      log.progress('layer 1', 3 * 1024 * 1024, 8 * 1024 * 1024, 'bytes');
    });
    expect(status.join('')).toMatch(/\r\x1b\[K… Upload layers \d+\.\ds/);
    expect(status.join('')).toMatch(/layer 1 3\.0 MiB \/ 8\.0 MiB [\d.]+ (KiB|MiB|GiB)\/s/);
    // Cleared when the work ends: nothing is left on the line.
    expect(status[status.length - 1]).toBe('\r\x1b[K');
    expect(lines).toEqual(['▸ Upload layers', expect.stringMatching(/^ {2}Upload layers: \d+\.\ds$/)]);
  });

  it('in a pipe: no status line and no progress, only the log lines', async () => {
    const { log, lines, status } = collect(false);
    await log.group('Upload layers', async () => log.progress('layer 1', 1, 2, 'bytes'));
    expect(status).toEqual([]);
    expect(lines).toEqual(['▸ Upload layers']);
  });

  it('sizes read as a person reads them', () => {
    expect([formatBytes(812), formatBytes(12_595), formatBytes(4 * 1024 ** 2)]).toEqual([
      '812 B',
      '12.3 KiB',
      '4.0 MiB',
    ]);
  });
});
