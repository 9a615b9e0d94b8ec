import { createHash } from 'node:crypto';
import type { Digest } from '../ref/index.ts';

/**
 * The version of the daemonless builder, part of every inputs-digest: bump it
 * whenever the bytes anew writes for the same inputs change (tar layout, gzip
 * level or block size, config fields), so that no cached image made by an
 * older builder is taken for one this builder would make.
 */
export const DAEMONLESS_BUILDER =
  'anew-image/3 (ustar+pax, hard links, placed on the base, gzip level 1, 1 MiB blocks, random-looking runs stored)';

/** JSON with object keys sorted at every level and no white space: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new Error('canonicalJson: not a finite number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const keys = Object.keys(value as object)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/**
 * sha256 of the canonical description of every input of a build. Two builds
 * with the same inputs-digest produce the same image, so the second can take
 * the first's result without building.
 */
export function inputsDigest(description: unknown): Digest {
  return `sha256:${createHash('sha256').update(canonicalJson(description)).digest('hex')}`;
}
