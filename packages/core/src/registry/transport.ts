import { randomInt } from 'node:crypto';
import type { Logger } from '../log/index.ts';
import type { Reference } from '../ref/index.ts';
import type { Authenticator, RegistryOrigin } from './auth.ts';
import { DigestMismatchError, describeRegistryErrors, RegistryError } from './errors.ts';
import {
  type Body,
  discard,
  formatBytes,
  type HttpResponse,
  type HttpStream,
  isTransientNetworkError,
  MiB,
  open,
  readBody,
  TooLargeError,
} from './http.ts';

export interface RetryOptions {
  /** Attempts per request, the first included. */
  attempts: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export type Scope = string;
export const pullScope = (repo: Reference): Scope => `repository:${repo.repository}:pull`;
export const pushScope = (repo: Reference): Scope => `repository:${repo.repository}:pull,push`;

/** Manifests, indexes, tag lists and referrers pages: distribution refuses manifests above 4 MiB. */
export const DOCUMENT_LIMIT = 4 * MiB;
/** Error bodies are only described: the first 64 KiB is plenty. */
const ERROR_BODY_LIMIT = 64 * 1024;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The whole exchange's deadline: two minutes plus the time the body takes at
 * 256 KiB/s, so a big blob on a slow link still gets through while a server
 * dripping an endless answer is cut off.
 */
export function deadlineFor(bytes: number): number {
  return 120_000 + Math.ceil(bytes / 256);
}

export interface Call {
  method: string;
  /** Absolute URL, or a path below the registry's /v2/. */
  url: string;
  headers?: Record<string, string>;
  body?: Body;
  scopes: Scope[];
  /** Statuses the caller handles; anything else that is not retried throws. */
  expect: number[];
  /** The most bytes the answer's body may have (default: DOCUMENT_LIMIT). */
  limit?: number;
  /** What the body is, for messages ("manifest …"). */
  what?: string;
  /** Checked after each response; a DigestMismatchError is retried like a network fault. */
  verify?: (res: HttpResponse) => void;
  /**
   * For uploads named by their digest: the registry's DIGEST_INVALID means the
   * bytes it received do not hash to what we computed from the bytes we sent,
   * so they were damaged on the way (seen under load on distribution 2.8).
   * That is retried like corruption on a read, not reported as the user's mistake.
   */
  uploadByDigest?: boolean;
  /**
   * false: one attempt. A transient failure is thrown at once (a RegistryError
   * with retryAfterMs) for a caller that must do something before sending
   * again: re-read a tag index and merge, or ask an upload where to resume.
   */
  retry?: boolean;
  deadlineMs?: number;
}

/** Plain HTTP for loopback registries (as docker treats them), and hosts listed in ANEW_INSECURE_REGISTRIES. */
export function registryScheme(registry: string, env: NodeJS.ProcessEnv = process.env): 'http' | 'https' {
  const host = registry.replace(/:\d+$/, '');
  if (host === 'localhost' || host === '[::1]' || /^127\./.test(host)) return 'http';
  const insecure = (env['ANEW_INSECURE_REGISTRIES'] ?? '').split(',').map((s) => s.trim());
  return insecure.includes(registry) ? 'http' : 'https';
}

/**
 * The one request path of the registry client: every call, uploads and
 * redirects included, goes through `request` or `open`. It binds credentials
 * to the registry they belong to (an Authorization header and an answer to a
 * challenge only for the registry's own origin), follows redirects of reads
 * without credentials, re-authenticates once on a 401, retries transient
 * faults with backoff (honouring Retry-After), bounds every body it reads and
 * every exchange's duration, and names the registry's own error code when it
 * gives up.
 */
export class Transport {
  constructor(
    private readonly auth: Authenticator,
    private readonly log: Logger,
    readonly retry: RetryOptions,
  ) {}

  base(repo: Reference): string {
    return `${registryScheme(repo.registry)}://${repo.apiHost}/v2/`;
  }

  origin(repo: Reference): RegistryOrigin {
    return { registry: repo.registry, origin: new URL(this.base(repo)).origin };
  }

  /** An exchange whose body is read (within the call's limit) and verified. */
  request(repo: Reference, c: Call): Promise<HttpResponse> {
    return this.exchange(repo, c, async (res) => {
      // A HEAD's Content-Length is the size of what a GET would send (a blob's, say); it has no body.
      let body: Buffer = Buffer.alloc(0);
      if (c.method === 'HEAD') discard(res);
      else body = await readBody(res, c.limit ?? DOCUMENT_LIMIT);
      const r = { status: res.status, headers: res.headers, body, url: res.url };
      c.verify?.(r);
      return r;
    });
  }

  /**
   * An exchange whose body is left to the caller to stream. Retries cover
   * the way to the headers; a fault in the body is the caller's to resume.
   */
  open(repo: Reference, c: Call): Promise<HttpStream> {
    return this.exchange(repo, c, async (res) => res);
  }

  private async exchange<T>(repo: Reference, c: Call, consume: (res: HttpStream) => Promise<T>): Promise<T> {
    const start = /^https?:\/\//.test(c.url) ? c.url : this.base(repo) + c.url;
    const own = this.origin(repo);
    const attempts = c.retry === false ? 1 : this.retry.attempts;
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      // Each attempt starts at the registry: a redirect's signed URL may have expired meanwhile.
      let url = start;
      let redirects = 0;
      try {
        for (;;) {
          const target = new URL(url);
          const isOwn = target.origin === own.origin;
          const authorization = isOwn ? await this.auth.header(own, c.scopes) : undefined;
          const res = await open({
            method: c.method,
            url,
            headers: { ...c.headers, ...(authorization ? { authorization } : {}) },
            body: c.body,
            deadlineMs: c.deadlineMs ?? deadlineFor(Math.max(c.limit ?? DOCUMENT_LIMIT, bodySize(c.body))),
          });
          if (REDIRECTS.has(res.status) && (c.method === 'GET' || c.method === 'HEAD')) {
            discard(res);
            if (++redirects > MAX_REDIRECTS)
              throw new RegistryError(
                `${repo.registry} redirected ${c.method} ${shortUrl(start)} more than ${MAX_REDIRECTS} times`,
                res.status,
                'REDIRECT_LOOP',
              );
            url = redirectTarget(repo, url, res.headers.location);
            continue;
          }
          if (res.status === 401) {
            const challenge = String(res.headers['www-authenticate'] ?? '');
            if (!isOwn) {
              discard(res);
              throw new RegistryError(
                `${target.host}, where ${repo.registry} redirected ${c.method} ${shortUrl(start)}, asks for authentication; anew sends the credentials of ${repo.registry} to ${repo.registry} alone`,
                401,
                'UNAUTHORIZED',
                'A registry that redirects reads to its storage must give a URL the storage accepts as it is (a signed URL); check the registry’s storage settings',
              );
            }
            if (!authRetried) {
              discard(res);
              authRetried = true;
              await this.auth.challenge(own, challenge, c.scopes);
              continue;
            }
          }
          if (c.expect.includes(res.status)) return await consume(res);
          const r: HttpResponse = {
            status: res.status,
            headers: res.headers,
            body: await readBody(res, ERROR_BODY_LIMIT, true),
            url,
          };
          if (
            c.uploadByDigest &&
            r.status === 400 &&
            describeRegistryErrors(r.body).code === 'DIGEST_INVALID'
          ) {
            throw new DigestMismatchError(
              `${repo.registry} received other bytes than were sent for ${shortUrl(url)}`,
            );
          }
          const transient = r.status === 429 || r.status >= 500;
          if (!transient || attempt >= attempts) {
            const e = this.permanent(repo, c, r);
            if (transient) e.retryAfterMs = retryAfter(r);
            throw e;
          }
          await this.backoff(attempt, `${c.method} ${shortUrl(url)}: ${r.status}`, retryAfter(r));
          break;
        }
      } catch (e) {
        if (e instanceof TooLargeError) {
          throw new RegistryError(
            `${repo.registry} answered ${c.method} ${shortUrl(url)} with more than ${formatBytes(e.limit)}${c.what ? `, the most ${c.what} can have` : ''}; refused`,
            0,
            'TOO_LARGE',
            'Something that is not a registry may be answering at this address; check it',
          );
        }
        const transient = isTransientNetworkError(e) || e instanceof DigestMismatchError;
        if (!transient) throw e;
        if (attempt >= attempts) {
          if (e instanceof DigestMismatchError) {
            throw new RegistryError(`${e.message}; refused after ${attempt} attempts`, 0, 'DIGEST_MISMATCH');
          }
          throw new RegistryError(
            `${repo.registry} did not answer ${c.method} ${shortUrl(url)}${attempt > 1 ? ` after ${attempt} attempts` : ''}: ${(e as Error).message}`,
            0,
            'UNREACHABLE',
            'Check that the registry is up and reachable',
          );
        }
        await this.backoff(attempt, `${c.method} ${shortUrl(url)}: ${(e as Error).message}`);
      }
    }
  }

  permanent(repo: Reference, c: Pick<Call, 'method'>, res: HttpResponse): RegistryError {
    const described = describeRegistryErrors(res.body);
    const { message } = described;
    // A HEAD has no body to name the error; the status still does.
    const code = described.code ?? { 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'NOT_FOUND' }[res.status];
    const what = `${repo.registry} answered ${c.method} ${shortUrl(res.url)} with ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
    let hint: string | undefined;
    if (res.status === 401)
      hint =
        'Check the credentials, or log in first (docker/login-action, docker login) or pass registry-username and registry-password';
    else if (res.status === 403)
      hint = `The credentials for ${repo.registry} may not push to ${repo.repository}`;
    else if (code === 'NAME_UNKNOWN') hint = `Check the repository name ${repo.name}`;
    return new RegistryError(what, res.status, code, hint);
  }

  async backoff(attempt: number, why: string, retryAfterMs?: number): Promise<void> {
    const exp = Math.min(this.retry.maxDelayMs, this.retry.minDelayMs * 2 ** (attempt - 1));
    // "Equal jitter": at least half the exponential step, so retries spread out but still back off.
    const half = Math.max(1, Math.ceil(exp / 2));
    const delay = retryAfterMs !== undefined ? Math.min(retryAfterMs, 30_000) : half + randomInt(half);
    this.log.debug(
      `RegistryClient: retry ${attempt}/${this.retry.attempts - 1} in ${Math.round(delay)} ms after ${why}`,
    );
    await sleep(delay);
  }
}

/**
 * Where a redirect of a read may lead: http(s) only, never from https down to
 * plain http, and never with a user name in the URL (Node would send it as
 * credentials of its own).
 */
function redirectTarget(repo: Reference, from: string, location: string | undefined): string {
  if (!location)
    throw new RegistryError(`${repo.registry} redirected without a Location`, 0, 'REDIRECT_INVALID');
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new RegistryError(`${repo.registry} redirected to an invalid URL`, 0, 'REDIRECT_INVALID');
  }
  const downgrade = new URL(from).protocol === 'https:' && to.protocol !== 'https:';
  if ((to.protocol !== 'https:' && to.protocol !== 'http:') || downgrade || to.username || to.password) {
    throw new RegistryError(
      `${repo.registry} redirected a read to ${to.protocol}//${to.host}, which anew does not follow`,
      0,
      'REDIRECT_INVALID',
      'Redirects must stay on https (plain http only from a plain-http registry) and carry no user name',
    );
  }
  return to.toString();
}

function bodySize(body: Body | undefined): number {
  if (!body) return 0;
  return Buffer.isBuffer(body) ? body.length : body.size;
}

export function retryAfter(res: Pick<HttpResponse, 'headers'>): number | undefined {
  const v = res.headers['retry-after'];
  if (typeof v !== 'string') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const when = Date.parse(v);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

export function shortUrl(url: string): string {
  const u = new URL(url);
  return u.pathname.length > 80 ? `${u.pathname.slice(0, 77)}…` : u.pathname;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
