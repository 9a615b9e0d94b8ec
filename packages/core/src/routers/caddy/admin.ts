import http from 'node:http';
import { UserError } from '../../errors/index.ts';

export interface AdminResponse {
  status: number;
  body: string;
  /** Caddy sends the ETag as an HTTP trailer (after a chunked body), which fetch() does not expose. */
  etag: string | undefined;
}

/** Caddy's admin API over node:http, so the ETag trailer can be read. */
export class CaddyAdmin {
  constructor(readonly baseUrl: string) {
    try {
      new URL(baseUrl);
    } catch {
      throw new UserError(`router-url "${baseUrl}" is not a URL`, 'Use e.g. http://127.0.0.1:2019');
    }
  }

  request(method: string, path: string, body?: unknown, ifMatch?: string): Promise<AdminResponse> {
    const url = new URL(path, this.baseUrl);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (ifMatch) headers['if-match'] = ifMatch;
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, timeout: 15_000, agent: false }, (res) => {
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
