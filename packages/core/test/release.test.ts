import { describe, expect, it } from 'vitest';
import { newReleaseId, targetName } from '../src/release/ids.ts';

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
