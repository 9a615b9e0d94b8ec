import { UserError } from '../errors/index.ts';

import type { Platform } from '../registry/index.ts';

// One platform type for the registry's descriptors and the images we assemble.
export type { Platform };

/** `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`. */
export function parsePlatform(value: string, what = 'platform'): Platform {
  const parts = value.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p)))
    throw new UserError(
      `${what} "${value}" is not a platform`,
      'Write os/architecture[/variant], e.g. linux/amd64 or linux/arm64',
    );
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

// arm64 images usually carry no variant, or v8; they are the same platform.
function normalizedVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === 'v8')) return undefined;
  return p.variant;
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && normalizedVariant(a) === normalizedVariant(b);
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };
