import http from 'node:http';
import type net from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

/**
 * A small loopback HTTP server that records every request it answers (a
 * hostile registry, a storage host a redirect leads to): `handle` answers,
 * knowing its own host:port. `stop` closes it and every open connection.
 */
export async function recordingServer(
  handle: (req: http.IncomingMessage, res: http.ServerResponse, host: string) => void,
): Promise<{ host: string; seen: SeenRequest[]; stop: () => Promise<void> }> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<net.Socket>();
  let host = '';
  const s = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    handle(req, res, host);
  });
  s.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  return {
    host,
    seen,
    async stop() {
      for (const c of sockets) c.destroy();
      await new Promise((r) => s.close(r));
    },
  };
}
