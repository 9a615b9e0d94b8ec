import { UserError } from '../errors/index.ts';

/**
 * A permanent answer from a registry (400, 401, 403, 404, 405, …): fails at
 * once, naming the registry's own error code and message.
 */
export class RegistryError extends UserError {
  override name = 'RegistryError';
  /** For a transient answer given up on at once (a call made without retries): when to try again. */
  retryAfterMs?: number;
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
    hint?: string,
  ) {
    super(message, hint);
  }
}

/** Content that did not hash to what was asked for. Never accepted; retried, then fatal. */
export class DigestMismatchError extends Error {
  override name = 'DigestMismatchError';
}

/** An answer worth another try later: the registry was busy or unreachable, not wrong. */
export function isTransientRegistryError(e: unknown): e is RegistryError {
  return e instanceof RegistryError && (e.status >= 500 || e.status === 429 || e.code === 'UNREACHABLE');
}

/** Parses the distribution error body: {"errors":[{"code","message","detail"}]}. */
export function describeRegistryErrors(body: Buffer): { code?: string; message?: string } {
  try {
    const json = JSON.parse(body.toString('utf8')) as {
      errors?: { code?: string; message?: string; detail?: unknown }[];
    };
    const first = json.errors?.[0];
    if (!first) return {};
    const detail =
      first.detail && typeof first.detail === 'object'
        ? ` (${JSON.stringify(first.detail).slice(0, 200)})`
        : '';
    return { code: first.code, message: `${first.message ?? ''}${detail}` };
  } catch {
    const text = body.toString('utf8').trim().slice(0, 200);
    return text ? { message: text } : {};
  }
}
