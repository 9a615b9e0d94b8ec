import type { RequestOptions } from 'node:http';
import { UserError } from '../../errors/index.ts';
import { http } from '../../node-http/index.ts';
import { type AdminTransport, adminTransport } from '../admin-transport.ts';

export interface AdminResponse {
  status: number;
  body: string;
  /** Caddy sends the ETag as an HTTP trailer (after a chunked body), which fetch() does not expose. */
  etag: string | undefined;
}

/**
 * Bounds on one admin request. The whole configuration of a router with a few
 * hundred environments is well under 1 MiB; anything far larger is not
 * Caddy's answer to us, and holding it would only grow the runner's memory.
 */
export const ADMIN_LIMITS = { maxBytes: 8 * 1024 * 1024, deadlineMs: 15_000 } as const;

/**
 * Caddy's admin API over node:http, so the ETag trailer can be read. The
 * connection comes from the transport (TCP, TLS, or through ssh), so
 * node:http only speaks HTTP on it: given an https:// URL itself, it throws
 * a TypeError (it supports http: only).
 */
export class CaddyAdmin {
  readonly transport: AdminTransport;
  readonly limits: { maxBytes: number; deadlineMs: number };
  constructor(
    readonly baseUrl: string,
    opts: { transport?: AdminTransport; limits?: { maxBytes: number; deadlineMs: number } } = {},
  ) {
    this.transport = opts.transport ?? adminTransport(baseUrl);
    this.limits = opts.limits ?? ADMIN_LIMITS;
    if (this.transport.address.kind !== 'tcp')
      throw new UserError(`router-url "${baseUrl}" names a socket`, 'Caddy’s admin API listens on host:port');
  }

  /**
   * One request. A read whose connection fails before any answer is sent again once: Caddy 2.6 replaces
   * its admin listener at every config load, so a connection that arrives just then is reset. A write is
   * never sent twice (it may have been applied); its If-Match makes the caller read again instead.
   */
  async request(method: string, path: string, body?: unknown, ifMatch?: string): Promise<AdminResponse> {
    try {
      return await this.once(method, path, body, ifMatch);
    } catch (e) {
      if (method !== 'GET' || !(e instanceof ConnectionError)) throw e;
      await new Promise((r) => setTimeout(r, 200));
      return this.once(method, path, body, ifMatch);
    }
  }

  private once(method: string, path: string, body?: unknown, ifMatch?: string): Promise<AdminResponse> {
    const { host, port } = this.transport.address as { host: string; port: number };
    // The Host header names the admin address as the server sees it (Caddy checks it).
    const url = new URL(path, `http://${host.includes(':') ? `[${host}]` : host}:${port}`);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (ifMatch) headers['if-match'] = ifMatch;
    const { maxBytes, deadlineMs } = this.limits;
    const unusable = (why: string) =>
      new UserError(
        `Caddy's admin API at ${this.baseUrl}: ${method} ${path} ${why}; nothing was changed by this answer`,
        'Check that router-url names the admin API of the Caddy that serves the environment',
      );
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        fn();
      };
      const createConnection = ((_o: unknown, cb: (e: Error | null, s?: unknown) => void) => {
        this.transport.connect().then((s) => cb(null, s), cb);
      }) as unknown as RequestOptions['createConnection'];
      const req = http.request(url, { method, headers, createConnection }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            settle(() => reject(unusable(`answered more than ${maxBytes / 1024 / 1024} MiB`)));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () =>
          settle(() =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              etag: (res.headers['etag'] as string | undefined) ?? res.trailers['etag'],
            }),
          ),
        );
        res.on('error', (e) => settle(() => reject(unusable(`broke off its answer (${e.message})`))));
      });
      // One deadline for the whole exchange: an idle timeout alone never fires on a slow trickle.
      const deadline = setTimeout(() => {
        settle(() => reject(unusable(`did not answer within ${deadlineMs / 1000} s`)));
        req.destroy();
      }, deadlineMs);
      req.on('error', (e) =>
        settle(() =>
          reject(
            new ConnectionError(
              `Caddy's admin API at ${this.baseUrl} did not answer (${e.message})`,
              'Check router-url and that Caddy runs with its admin API on that address',
            ),
          ),
        ),
      );
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async get(path: string): Promise<{ value: unknown; etag: string }> {
    const res = await this.request('GET', path);
    if (res.status !== 200) throw new AdminError(`GET ${path}`, res);
    return { value: this.json(`GET ${path}`, res), etag: res.etag ?? '' };
  }

  /** The JSON of an answer; anything else (an HTML page, a proxy's error) is refused as not Caddy's. */
  json(what: string, res: AdminResponse): unknown {
    try {
      return JSON.parse(res.body || 'null');
    } catch {
      throw new UserError(
        `Caddy's admin API at ${this.baseUrl}: ${what} answered ${res.status} with something that is not JSON (${excerpt(res.body)})`,
        'Check that router-url names the admin API of Caddy, not a site it serves',
      );
    }
  }
}

/** An answer of the admin API that is not what anew asked for: a refusal to report, not a bug. */
/** No answer at all: the connection failed or was reset before a response began. */
class ConnectionError extends UserError {}

export class AdminError extends UserError {
  constructor(
    what: string,
    readonly response: AdminResponse,
  ) {
    super(`Caddy admin API: ${what} answered ${response.status}: ${excerpt(response.body)}`);
  }
}

/** The start of a body, on one line, for a message. */
export function excerpt(body: string, max = 200): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty)';
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}
