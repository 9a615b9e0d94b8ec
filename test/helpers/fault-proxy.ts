import http from 'node:http';
import type net from 'node:net';

/** What the proxy does to one exchange. */
export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string }
  /** Close the connection after half of the response body. */
  | { kind: 'reset' }
  /** Close the connection while the request body is still arriving. */
  | { kind: 'reset-upload'; afterBytes: number }
  /** Send the full Content-Length but only part of the body, then end. */
  | { kind: 'truncate' }
  /** Flip one byte of the response body. */
  | { kind: 'flip' }
  /** Flip one byte of the request body on its way to the registry. */
  | { kind: 'flip-upload' }
  /** Replace Docker-Content-Digest with another digest. */
  | { kind: 'wrong-digest-header' }
  /** Never answer (the request is held until the client goes away): a process stopped mid-request. */
  | { kind: 'hang' }
  /** Answer with a redirect (307 unless told) to `location`, as a registry sends reads to its storage. */
  | { kind: 'redirect'; location: string; status?: number };

export interface Exchange {
  method: string;
  path: string;
  status: number;
  fault?: Fault['kind'];
  /** The Range header the client sent, if any. */
  range?: string;
  /** Bytes of request body the client sent. */
  sent: number;
}

/**
 * A reverse proxy in front of a real registry that injects faults, for
 * testing the client's retries and its refusal of bad content. `rule` sees
 * each request and may return a fault; `log` records every exchange.
 */
export class FaultProxy {
  readonly log: Exchange[] = [];
  private server!: http.Server;
  private sockets = new Set<net.Socket>();
  host = '';
  rule: (req: { method: string; path: string; n: number }) => Fault | undefined = () => undefined;
  private counts = new Map<string, number>();

  constructor(private readonly upstream: string) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  /** Exchanges whose method and path match. */
  count(method: string, pathPart: string | RegExp): number {
    return this.log.filter(
      (e) =>
        e.method === method &&
        (typeof pathPart === 'string' ? e.path.includes(pathPart) : pathPart.test(e.path)),
    ).length;
  }

  /** Bytes of request body sent in the exchanges whose method and path match. */
  sent(method: string, pathPart: string | RegExp): number {
    return this.log
      .filter(
        (e) =>
          e.method === method &&
          (typeof pathPart === 'string' ? e.path.includes(pathPart) : pathPart.test(e.path)),
      )
      .reduce((n, e) => n + e.sent, 0);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    let sent = 0;
    req.on('data', (c: Buffer) => {
      sent += c.length;
    });
    const key = `${req.method} ${path.replace(/\?.*$/, '')}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    const fault = this.rule({ method: req.method ?? 'GET', path, n });
    const record = (status: number) =>
      this.log.push({
        method: req.method ?? '',
        path,
        status,
        fault: fault?.kind,
        sent,
        ...(req.headers.range ? { range: req.headers.range } : {}),
      });

    if (fault?.kind === 'hang') {
      record(0);
      return;
    }

    if (fault?.kind === 'redirect') {
      const status = fault.status ?? 307;
      record(status);
      req.resume();
      res.writeHead(status, { location: fault.location, 'content-length': '0' });
      res.end();
      return;
    }

    if (fault?.kind === 'status') {
      record(fault.status);
      req.resume();
      res.writeHead(fault.status, {
        'content-type': 'application/json',
        ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}),
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
      return;
    }

    const headers = { ...req.headers, host: this.upstream };
    const up = http.request(
      {
        host: this.upstream.split(':')[0],
        port: Number(this.upstream.split(':')[1]),
        method: req.method,
        path,
        headers,
      },
      (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          let body = Buffer.concat(chunks);
          const outHeaders = { ...upRes.headers };
          // Absolute Locations point at the upstream; send clients back through the proxy.
          if (outHeaders.location)
            outHeaders.location = outHeaders.location.replace(this.upstream, this.host);
          record(upRes.statusCode ?? 0);
          if (fault?.kind === 'wrong-digest-header' && outHeaders['docker-content-digest']) {
            outHeaders['docker-content-digest'] = `sha256:${'0'.repeat(64)}`;
          }
          if (fault?.kind === 'flip' && body.length > 0) {
            body = Buffer.from(body);
            const at = Math.floor(body.length / 2);
            body.writeUInt8(body.readUInt8(at) ^ 0x01, at);
          }
          res.writeHead(upRes.statusCode ?? 502, outHeaders);
          if ((fault?.kind === 'reset' || fault?.kind === 'truncate') && body.length > 1) {
            res.write(body.subarray(0, Math.floor(body.length / 2)));
            if (fault.kind === 'reset') setImmediate(() => res.socket?.destroy());
            else res.socket?.end();
            return;
          }
          res.end(body);
        });
      },
    );
    up.on('error', () => res.destroy());
    if (fault?.kind === 'reset-upload') {
      let seen = 0;
      req.on('data', (c: Buffer) => {
        const room = fault.afterBytes - seen;
        if (room > 0) up.write(c.subarray(0, room));
        seen += c.length;
        if (seen >= fault.afterBytes) {
          record(0);
          // The registry keeps what it got; the client must ask where to resume.
          up.destroy();
          req.socket.destroy();
        }
      });
      req.on('end', () => {
        if (seen < fault.afterBytes) up.end();
      });
      return;
    }
    if (fault?.kind === 'flip-upload') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.length > 0) body.writeUInt8(body.readUInt8(body.length >> 1) ^ 0x01, body.length >> 1);
        up.end(body);
      });
      return;
    }
    req.pipe(up);
  }
}
