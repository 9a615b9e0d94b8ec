import { randomBytes } from 'node:crypto';
import { shortDigest } from '../ref/index.ts';

/**
 * A release id sorts by time and stays unique when the same digest is
 * deployed twice: `20261126-124501-3fa9c2`. The target name carries app,
 * environment and short digest, and the same random part, so either names
 * the release: `anew-web-production-1a2b3c4d5e6f-3fa9c2`.
 */
export function newReleaseId(now: Date, suffix = randomBytes(3).toString('hex')): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${suffix}`;
}

export function targetName(app: string, environment: string, digest: string, release: string): string {
  return `anew-${app}-${environment}-${shortDigest(digest)}-${release.slice(release.lastIndexOf('-') + 1)}`;
}
