/**
 * A mistake the user can fix (bad input, missing file, policy refused).
 * Reported without a stack trace; `hint` says what to do about it.
 * Anything else that escapes is a bug and is reported with its stack.
 */
export class UserError extends Error {
  override name = 'UserError';
  readonly hint: string | undefined;
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(hint ? `${message}. ${hint}` : message, options);
    this.hint = hint;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError || (e instanceof Error && e.name === 'UserError');
}

/** Message of any thrown value, for logs. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
