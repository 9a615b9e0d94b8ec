import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/helpers/services.ts';
import { probe, sampleErrorRate, waitHealthy } from '../src/health/index.ts';

describe('health checks against a real HTTP server', () => {
  let server: http.Server;
  let base: string;
  let healthyAfter = 0;
  let served = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      served++;
      if (req.url === '/slow-start') {
        res.statusCode = Date.now() >= healthyAfter ? 200 : 503;
      } else if (req.url === '/flaky') {
        res.statusCode = served % 4 === 0 ? 500 : 200;
      } else res.statusCode = req.url === '/ok' ? 204 : 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it('probes once: 2xx is healthy, anything else says what it got', async () => {
    expect(await probe(`${base}/ok`)).toMatchObject({ ok: true, status: 204 });
    expect(await probe(`${base}/missing`)).toMatchObject({ ok: false, status: 404, detail: 'HTTP 404' });
    const closed = await probe(`http://127.0.0.1:${await freePort()}/`);
    expect(closed).toMatchObject({ ok: false, status: 0 });
    expect(closed.detail).toMatch(/ECONNREFUSED/);
  });

  it('rides on the connection a connector opens (a target reached through its server), with the URL’s host and port', async () => {
    const asked: string[] = [];
    const port = Number(new URL(base).port);
    // The URL names an address this machine does not have: only the connector can reach it.
    const connect = async (host: string, p: number) => {
      asked.push(`${host}:${p}`);
      return net.connect(port, '127.0.0.1');
    };
    expect(await probe('http://target.invalid:2345/ok', { connect })).toMatchObject({
      ok: true,
      status: 204,
    });
    expect(asked).toEqual(['target.invalid:2345']);
    const res = await waitHealthy('http://target.invalid:2345/ok', { timeoutMs: 2000, connect });
    expect(res.healthy).toBe(true);
    const failing = async () => {
      throw new Error('channel open failed');
    };
    expect(await probe('http://target.invalid:2345/ok', { connect: failing })).toMatchObject({
      ok: false,
      status: 0,
      detail: 'channel open failed',
    });
  });

  it('waits with backoff until the target answers 2xx', async () => {
    healthyAfter = Date.now() + 600;
    const res = await waitHealthy(`${base}/slow-start`, { timeoutMs: 5000 });
    expect(res.healthy).toBe(true);
    expect(res.attempts).toBeGreaterThan(1);
  });

  it('gives up at the timeout with the last reason', async () => {
    const res = await waitHealthy(`${base}/missing`, { timeoutMs: 400 });
    expect(res).toMatchObject({ healthy: false, reason: 'HTTP 404' });
  });

  it('stops early when the target is gone', async () => {
    const started = Date.now();
    const res = await waitHealthy(`${base}/missing`, {
      timeoutMs: 20_000,
      gone: async () => 'the container exited',
    });
    expect(res).toMatchObject({ healthy: false, reason: 'the container exited' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('measures the error rate of a sample (5xx and no answer count, 4xx does not)', async () => {
    served = 0;
    const flaky = await sampleErrorRate(`${base}/flaky`, { durationMs: 0, max: 100 });
    expect(flaky).toMatchObject({ requests: 1 });
    const many = await sampleErrorRate(`${base}/flaky`, { durationMs: 60_000, max: 40 });
    expect(many.requests).toBe(40);
    expect(many.failed).toBe(10);
    expect(many.rate).toBeCloseTo(0.25);
    expect((await sampleErrorRate(`${base}/missing`, { durationMs: 60_000, max: 5 })).failed).toBe(0);
  });
});

describe('health checks read a bounded answer within one deadline', () => {
  const servers: http.Server[] = [];
  const timers = new Set<NodeJS.Timeout>();
  afterAll(() => {
    for (const t of timers) clearInterval(t);
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });
  async function serve(handler: http.RequestListener): Promise<string> {
    const s = http.createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}/`;
  }

  it('stops reading an endless body after a bounded amount, with the status it got', async () => {
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const url = await serve((_req, res) => {
      res.writeHead(200);
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const pump = () => {
        // Bounded: at most 512 MiB if nothing ever stops reading.
        while (!closed && sent < 512 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    expect(await probe(url, { timeoutMs: 30_000 })).toMatchObject({ ok: true, status: 200 });
    expect(sent).toBeLessThan(32 * 1024 * 1024);
  });

  it('gives up on an answer that trickles in, at the deadline of the whole request', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200);
      let n = 0;
      const t = setInterval(() => {
        if (++n > 200 || res.destroyed) {
          clearInterval(t);
          res.end();
        } else res.write('.');
      }, 100);
      timers.add(t);
    });
    expect(await probe(url, { timeoutMs: 1000 })).toMatchObject({
      ok: false,
      status: 0,
      detail: 'no whole answer within 1000 ms',
    });
  });
});
