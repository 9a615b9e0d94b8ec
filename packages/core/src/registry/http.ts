import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { http } from '../node-http/index.ts';

/** A request body that can be sent again on a retry. */
export type Body = Buffer | { size: number; open: () => Readable };

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Give up on a connection that stalls this long (ms). */
  stallMs?: number;
  /** Give up on the whole exchange, body included, after this long (ms). */
  deadlineMs?: number;
}

/** A response whose body has not been read yet. */
export interface HttpStream {
  status: number;
  headers: IncomingHttpHeaders;
  url: string;
  body: IncomingMessage;
}

/** A response with its body read (up to a limit). */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  url: string;
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

export const MiB = 1024 * 1024;
const DEFAULT_STALL_MS = 120_000;
const DEFAULT_DEADLINE_MS = 300_000;

const fault = (message: string, code: string) => Object.assign(new Error(message), { code });

/**
 * One HTTP exchange over node:http(s), resolved when the headers arrive; the
 * body is the caller's to read (readBody) or to stream. The deadline covers
 * the body too: a server that drips an endless answer is cut off, not only
 * one that stalls. Readers treat a body that closes before it is complete as
 * an error, so truncated content never reaches a caller.
 */
export function open(req: HttpRequest): Promise<HttpStream> {
  const url = new URL(req.url);
  const lib = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = { 'user-agent': 'anew', ...req.headers };
  if (req.body)
    headers['content-length'] = String(Buffer.isBuffer(req.body) ? req.body.length : req.body.size);
  return new Promise<HttpStream>((resolve, reject) => {
    let response: IncomingMessage | undefined;
    const r = lib.request(
      url,
      { method: req.method, headers, agent: url.protocol === 'https:' ? agents.https : agents.http },
      (res) => {
        response = res;
        // No 'data' listener here: the body stays paused until its reader takes it. A body cut
        // short of its Content-Length ends without 'end' and with `complete` false.
        res.on('aborted', () => res.destroy(fault('response aborted', 'ECONNRESET')));
        res.on('end', () => clearTimeout(deadline));
        res.on('close', () => clearTimeout(deadline));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
      },
    );
    const deadlineMs = req.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const deadline = setTimeout(() => {
      const e = fault(`no complete answer within ${Math.round(deadlineMs / 1000)} s`, 'ETIMEDOUT');
      response?.destroy(e);
      r.destroy(e);
    }, deadlineMs);
    deadline.unref();
    r.setTimeout(req.stallMs ?? DEFAULT_STALL_MS, () => r.destroy(fault('timed out', 'ETIMEDOUT')));
    r.on('error', (e) => {
      clearTimeout(deadline);
      reject(e);
    });
    if (!req.body) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      const stream = req.body.open();
      stream.on('error', (e) => r.destroy(e));
      stream.pipe(r);
    }
  });
}

/** The answer carried more bytes than what it answers can have. Never retried. */
export class TooLargeError extends Error {
  override name = 'TooLargeError';
  constructor(readonly limit: number) {
    super(`the answer is larger than ${formatBytes(limit)}`);
  }
}

/**
 * Reads a body into memory, at most `limit` bytes: a Content-Length above it
 * is refused before anything is read, and a body that grows past it is cut
 * off at the limit. With `truncate`, the first `limit` bytes are kept and the
 * rest dropped (for error bodies, which are only described).
 */
export function readBody(res: HttpStream, limit: number, truncate = false): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? Number.NaN);
  if (!truncate && declared > limit) {
    res.body.destroy();
    return Promise.reject(new TooLargeError(limit));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      if (e) reject(e);
      else resolve(Buffer.concat(chunks));
    };
    res.body.on('data', (c: Buffer) => {
      if (done) return;
      if (size + c.length > limit) {
        if (truncate) chunks.push(c.subarray(0, limit - size));
        res.body.destroy();
        finish(truncate ? undefined : new TooLargeError(limit));
        return;
      }
      chunks.push(c);
      size += c.length;
    });
    res.body.on('error', (e) => finish(e));
    // A body cut short of its Content-Length (a dropped connection) closes without being complete.
    res.body.on('end', () => setImmediate(() => finish(res.body.errored ?? undefined)));
    res.body.on('close', () =>
      finish(res.body.errored ?? (res.body.complete ? undefined : fault('response aborted', 'ECONNRESET'))),
    );
  });
}

/** Drops a body nobody will read, so the connection can be reused or closed. */
export function discard(res: HttpStream): void {
  res.body.resume();
  res.body.on('error', () => {});
}

export function formatBytes(n: number): string {
  if (n >= MiB) return `${Math.round((n / MiB) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} bytes`;
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
