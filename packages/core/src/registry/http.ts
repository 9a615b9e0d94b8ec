import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

/** A request body that can be sent again on a retry. */
export type Body = Buffer | { size: number; open: () => Readable };

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Give up on a response that stalls this long (ms). */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: string;
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

/**
 * One HTTP exchange over node:http(s), the whole response body read.
 * A body shorter than its Content-Length (a dropped connection) is an error,
 * so truncated content never reaches a caller.
 */
export function send(req: HttpRequest): Promise<HttpResponse> {
  const url = new URL(req.url);
  const lib = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = { 'user-agent': 'anew', ...req.headers };
  if (req.body)
    headers['content-length'] = String(Buffer.isBuffer(req.body) ? req.body.length : req.body.size);
  return new Promise<HttpResponse>((resolve, reject) => {
    const r = lib.request(
      url,
      { method: req.method, headers, agent: url.protocol === 'https:' ? agents.https : agents.http },
      (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          received += c.length;
        });
        res.on('error', reject);
        res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
        res.on('end', () => {
          const expected = res.headers['content-length'];
          if (req.method !== 'HEAD' && expected !== undefined && Number(expected) !== received) {
            reject(
              Object.assign(new Error(`response truncated: ${received} of ${expected} bytes`), {
                code: 'ETRUNCATED',
              }),
            );
            return;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            url: req.url,
          });
        });
      },
    );
    r.setTimeout(req.timeoutMs ?? 120_000, () =>
      r.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    r.on('error', reject);
    if (!req.body) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      const stream = req.body.open();
      stream.on('error', (e) => r.destroy(e));
      stream.pipe(r);
    }
  });
}

/** Network failures worth another try: the connection, not the request, went wrong. */
export function isTransientNetworkError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return (
    !!code &&
    [
      'ECONNRESET',
      'ECONNREFUSED',
      'EPIPE',
      'ETIMEDOUT',
      'ETRUNCATED',
      'EAI_AGAIN',
      'UND_ERR_SOCKET',
      'ECONNABORTED',
      'HPE_INVALID_CONSTANT',
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    ].includes(code)
  );
}
