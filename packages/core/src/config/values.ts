import { UserError } from '../errors/index.ts';

/**
 * Checks of values by their type, shared by every source (action inputs, CLI
 * options, anew.yml). Every value that reaches a command line, a label, a
 * route or the log goes through one of these first, so nothing read from a
 * user can start a log line (a `::error::` workflow command) or hide its
 * meaning (a right-to-left override).
 */

/** The longest single-line value any input takes; hosts, URLs and names have tighter limits of their own. */
export const MAX_LINE = 4096;
/** The longest multi-line value (a file list, a PEM key, environment variables). */
export const MAX_TEXT = 256 * 1024;

// C0 controls but tab, line feed and carriage return; DEL; C1 controls; the Unicode
// bidirectional overrides, embeddings and isolates (they reorder what a reader sees).
const FORBIDDEN =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** What `value` looks like in a message: quoted, escaped, and cut short when long. */
export function shown(value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  const cut = s.length > 80 ? `${s.slice(0, 60)}…` : s;
  return JSON.stringify(cut).replace(
    /[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The checks every text value passes: no control characters or bidirectional
 * overrides, no line break unless the value is multi-line, and a length limit.
 */
export function checkText(
  value: string,
  what: string,
  opts: { multiline?: boolean; max?: number } = {},
): string {
  if (!opts.multiline && /[\r\n]/.test(value))
    throw new UserError(`${what} holds a line break: ${shown(value)}`, 'Give it on one line');
  const bad = FORBIDDEN.exec(value);
  if (bad)
    throw new UserError(
      `${what} holds the control character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}: ${shown(value)}`,
      'Remove it: control characters and direction overrides are refused',
    );
  const max = opts.max ?? (opts.multiline ? MAX_TEXT : MAX_LINE);
  if (value.length > max)
    throw new UserError(`${what} is ${value.length} characters long`, `Give at most ${max} characters`);
  return value;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * A host name as routes match it: RFC 1123 labels, at most 253 characters,
 * with at most one leading `*.` label (a wildcard for one level of
 * sub-domains). A bare `*` would catch every host and is refused.
 */
export function checkHost(value: string, what: string): string {
  const v = checkText(value.trim(), what, { max: 253 });
  const hint =
    'Use a host name of letters, digits, "-" and ".", e.g. app.example.com or *.preview.example.com (a bare * is refused)';
  const labels = (v.startsWith('*.') ? v.slice(2) : v).split('.');
  if (v === '' || labels.some((l) => !LABEL.test(l))) throw new UserError(`${what} has ${shown(v)}`, hint);
  return v.toLowerCase();
}

/** `host:port` or `:port`, as a router listens (anchored at both ends). */
export function checkListen(value: string, what: string): string {
  const v = checkText(value.trim(), what, { max: 300 });
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)?:(\d{1,5})$/i.exec(v);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new UserError(
      `${what} is ${shown(v)}`,
      'Use an address with a port, e.g. :8080, 127.0.0.1:80 or [::1]:8080',
    );
  return v;
}

/**
 * A URL with one of `schemes`. http(s) URLs carry no user name or password
 * (they would end up in logs and in `ps`); nor do ssh URLs carry a password.
 */
export function checkUrl(value: string, what: string, schemes: readonly string[]): string {
  const v = checkText(value.trim(), what, { max: 2048 });
  const hint = `Use a ${schemes.map((s) => `${s}://`).join(' or ')} URL`;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new UserError(`${what} is ${shown(v)}, not a URL`, hint);
  }
  const scheme = u.protocol.slice(0, -1);
  if (!schemes.includes(scheme)) throw new UserError(`${what} is ${shown(v)}`, hint);
  if ((scheme === 'http' || scheme === 'https') && (u.username || u.password))
    throw new UserError(
      `${what} carries a user name or password`,
      'Remove it from the URL: credentials go in their own inputs, never in a URL the log shows',
    );
  // An ssh URL may leave its user to ~/.ssh/config (a Host alias), but never carries a password.
  if (scheme === 'ssh' && u.password)
    throw new UserError(
      `${what} carries a password`,
      'Name only the user, e.g. ssh://deploy@web-1.example.com: keys come from the ssh agent',
    );
  if ((scheme === 'http' || scheme === 'https' || scheme === 'ssh' || scheme === 'tcp') && !u.hostname)
    throw new UserError(`${what} is ${shown(v)}, with no host`, hint);
  return v;
}

/** A memory size as docker takes it: a number with an optional b, k, m or g. */
export function checkMemory(value: string, what: string): string {
  const v = checkText(value.trim(), what, { max: 32 });
  if (!/^[1-9]\d{0,15}[bkmg]?$/i.test(v))
    throw new UserError(`${what} is ${shown(v)}`, 'Use a size such as 256m, 1g or 512000k');
  return v;
}

/** A CPU count: a positive decimal number, e.g. 0.5 or 2. */
export function checkCpus(value: string, what: string): string {
  const v = checkText(value.trim(), what, { max: 16 });
  if (!/^\d{1,4}(\.\d{1,3})?$/.test(v) || Number(v) <= 0)
    throw new UserError(`${what} is ${shown(v)}`, 'Use a positive number of CPUs, e.g. 0.5 or 2');
  return v;
}

/** A Docker object name (network, container): letters, digits, `_`, `.` and `-`. */
export function checkDockerName(value: string, what: string): string {
  const v = checkText(value.trim(), what, { max: 128 });
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(v))
    throw new UserError(`${what} is ${shown(v)}`, 'Use letters, digits, "_", "." and "-"');
  return v;
}

/** An HTTP path to request: starts with /, no spaces, no control characters, no fragment. */
export function checkHttpPath(value: string, what: string): string {
  const v = checkText(value.trim(), what, { max: 1024 });
  if (!/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$/.test(v))
    throw new UserError(`${what} is ${shown(v)}`, 'Give a path that starts with /, e.g. /health');
  return v;
}
