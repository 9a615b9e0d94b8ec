import http from 'node:http';
import { UserError } from '../../errors/index.ts';
import { type AdminTransport, adminTransport } from '../admin-transport.ts';

export interface AdminResponse {
  status: number;
  body: string;
  /** Caddy sends the ETag as an HTTP trailer (after a chunked body), which fetch() does not expose. */
  etag: string | undefined;
}

/**
 * Caddy's admin API over node:http, so the ETag trailer can be read. The
 * connection comes from the transport (TCP, TLS, or through ssh), so
 * node:http only speaks HTTP on it: given an https:// URL itself, it throws
 * a TypeError (it supports http: only).
 */
export class CaddyAdmin {
  readonly transport: AdminTransport;
  constructor(
    readonly baseUrl: string,
    transport?: AdminTransport,
  ) {
    this.transport = transport ?? adminTransport(baseUrl);
    if (this.transport.address.kind !== 'tcp')
      throw new UserError(`router-url "${baseUrl}" names a socket`, 'Caddy’s admin API listens on host:port');
  }

  request(method: string, path: string, body?: unknown, ifMatch?: string): Promise<AdminResponse> {
    const { host, port } = this.transport.address as { host: string; port: number };
    // The Host header names the admin address as the server sees it (Caddy checks it).
    const url = new URL(path, `http://${host.includes(':') ? `[${host}]` : host}:${port}`);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (ifMatch) headers['if-match'] = ifMatch;
    return new Promise((resolve, reject) => {
      const createConnection = ((_o: unknown, cb: (e: Error | null, s?: unknown) => void) => {
        this.transport.connect().then((s) => cb(null, s), cb);
      }) as unknown as http.RequestOptions['createConnection'];
      const req = http.request(url, { method, headers, timeout: 15_000, createConnection }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            etag: (res.headers['etag'] as string | undefined) ?? res.trailers['etag'],
          }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
      req.on('error', (e) =>
        reject(
          new UserError(
            `Caddy's admin API at ${this.baseUrl} did not answer (${e.message})`,
            'Check router-url and that Caddy runs with its admin API on that address',
          ),
        ),
      );
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async get(path: string): Promise<{ value: unknown; etag: string }> {
    const res = await this.request('GET', path);
    if (res.status !== 200) throw new AdminError(`GET ${path}`, res);
    return { value: JSON.parse(res.body || 'null'), etag: res.etag ?? '' };
  }
}

export class AdminError extends Error {
  override name = 'AdminError';
  constructor(
    what: string,
    readonly response: AdminResponse,
  ) {
    super(`Caddy admin API: ${what} answered ${response.status}: ${response.body.trim()}`);
  }
}
