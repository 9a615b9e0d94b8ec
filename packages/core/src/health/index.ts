import type { ClientRequestArgs, RequestOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import { http } from '../node-http/index.ts';

/**
 * Health checks over plain HTTP with node:http (no connection reuse, so a
 * check never rides on a socket another check opened), and the error-rate
 * sampling a canary step uses through the router.
 */

/**
 * Opens the connection a check rides on, for a target reached through its
 * server (an engine over ssh) rather than from here.
 */
export type Connector = (host: string, port: number) => Promise<Duplex>;

export interface ProbeResult {
  ok: boolean;
  /** HTTP status, or 0 when nothing answered. */
  status: number;
  detail: string;
}

/**
 * A check needs the status only: the body is read (so the answer is whole)
 * up to this much, then the connection is dropped; a health page is small.
 */
export const PROBE_MAX_BODY = 64 * 1024;

/** GET `url` once; `timeoutMs` bounds the whole exchange, body included, not only a silence. */
export function probe(
  url: string,
  opts: { timeoutMs?: number; host?: string; connect?: Connector } = {},
): Promise<ProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(r);
    };
    const headers: Record<string, string> = { connection: 'close' };
    if (opts.host) headers['host'] = opts.host;
    const connect = opts.connect;
    const how: RequestOptions = connect
      ? {
          // No agent: the request rides on the connection given, alone.
          createConnection: ((o: ClientRequestArgs, done: (e: Error | null, s?: Duplex) => void) => {
            connect(String(o.hostname ?? o.host), Number(o.port ?? 80)).then(
              (s) => done(null, s),
              (e: Error) => done(e),
            );
            return undefined;
          }) as unknown as RequestOptions['createConnection'],
        }
      : { agent: false };
    const req = http.get(url, { ...how, headers }, (res) => {
      const status = res.statusCode ?? 0;
      const answered = { ok: status >= 200 && status < 300, status, detail: `HTTP ${status}` };
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > PROBE_MAX_BODY) settle(answered);
      });
      res.on('end', () => settle(answered));
      res.on('error', (e) => settle({ ok: false, status: 0, detail: e.message }));
    });
    const deadline = setTimeout(
      () => settle({ ok: false, status: 0, detail: `no whole answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.on('error', (e) => settle({ ok: false, status: 0, detail: e.message }));
  });
}

export interface WaitOptions {
  timeoutMs: number;
  connect?: Connector;
  /** Called about once a second while the target is not healthy; a returned string ends the wait (e.g. "the container exited"). */
  gone?: () => Promise<string | undefined>;
  sleep?: (ms: number) => Promise<void>;
}

export interface WaitResult {
  healthy: boolean;
  attempts: number;
  /** Why the last attempt failed, or why the wait stopped early. */
  reason: string;
}

/** GET `url` until it answers 2xx, with backoff from 50 ms to 2 s, within the timeout. */
export async function waitHealthy(url: string, opts: WaitOptions): Promise<WaitResult> {
  const sleep = opts.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 50;
  let attempts = 0;
  let lastGoneCheck = Date.now();
  let reason = 'no attempt made';
  for (;;) {
    attempts++;
    const remaining = deadline - Date.now();
    const res = await probe(url, {
      timeoutMs: Math.max(100, Math.min(2000, remaining)),
      connect: opts.connect,
    });
    if (res.ok) return { healthy: true, attempts, reason: res.detail };
    reason = res.detail;
    if (opts.gone && Date.now() - lastGoneCheck >= 1000) {
      lastGoneCheck = Date.now();
      const gone = await opts.gone();
      if (gone) return { healthy: false, attempts, reason: gone };
    }
    if (Date.now() + delay > deadline) return { healthy: false, attempts, reason };
    await sleep(delay);
    delay = Math.min(2000, Math.round(delay * 1.6));
  }
}

export interface ErrorSample {
  requests: number;
  failed: number;
  rate: number;
  /** The most common failure, for the message. */
  example?: string;
}

/**
 * Sends requests through the router for `durationMs` (one at a time, at
 * most `max`), and counts the failures: 5xx or no answer. This is what a
 * canary step watches: the new target's errors as users would meet them.
 */
export async function sampleErrorRate(
  url: string,
  opts: { durationMs: number; host?: string; max?: number; gapMs?: number },
): Promise<ErrorSample> {
  const end = Date.now() + opts.durationMs;
  const max = opts.max ?? 2000;
  let requests = 0;
  let failed = 0;
  let example: string | undefined;
  do {
    const res = await probe(url, { host: opts.host, timeoutMs: 2000 });
    requests++;
    if (res.status === 0 || res.status >= 500) {
      failed++;
      example ??= res.detail;
    }
    if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
  } while (Date.now() < end && requests < max);
  return { requests, failed, rate: requests === 0 ? 0 : failed / requests, example };
}
