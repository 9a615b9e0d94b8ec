import { createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * The OCI 1.1 referrers API in front of a real registry that lacks it
 * (distribution 2.8): a manifest PUT with a `subject` is passed on, answered
 * with the OCI-Subject header as such a registry answers, and listed from then
 * on by GET /v2/<name>/referrers/<digest> (an image index, filtered by
 * artifactType). Everything else goes to the registry unchanged.
 */
export class ReferrersApiProxy {
  host = '';
  /** Requests for the referrers API, to show it was used. */
  apiReads = 0;
  private server!: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly index = new Map<string, Descriptor[]>();

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

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const api = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (api && req.method === 'GET') {
      this.apiReads++;
      const type = url.searchParams.get('artifactType');
      const manifests = (this.index.get(`${api[1]}@${api[2]}`) ?? []).filter(
        (d) => !type || d.artifactType === type,
      );
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests,
      });
      res.writeHead(200, {
        'content-type': 'application/vnd.oci.image.index.v1+json',
        ...(type ? { 'oci-filters-applied': 'artifactType' } : {}),
      });
      res.end(body);
      return;
    }
    const put = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(url.pathname);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const up = http.request(
        {
          host: this.upstream.split(':')[0],
          port: Number(this.upstream.split(':')[1]),
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.upstream },
        },
        (upRes) => {
          const headers = { ...upRes.headers };
          if (headers.location) headers.location = headers.location.replace(this.upstream, this.host);
          if (put && req.method === 'PUT' && upRes.statusCode === 201) {
            const subject = this.record(put[1]!, body, String(req.headers['content-type'] ?? ''));
            if (subject) headers['oci-subject'] = subject;
          }
          res.writeHead(upRes.statusCode ?? 502, headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      up.end(body);
    });
  }

  /** Lists a manifest that has a subject under that subject; returns the subject's digest. */
  private record(repo: string, body: Buffer, mediaType: string): string | undefined {
    let json: {
      subject?: { digest?: string };
      artifactType?: string;
      config?: { mediaType?: string };
      annotations?: Record<string, string>;
    };
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
    const subject = json.subject?.digest;
    if (!subject) return undefined;
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const list = this.index.get(`${repo}@${subject}`) ?? [];
    if (!list.some((d) => d.digest === digest))
      list.push({
        mediaType,
        digest,
        size: body.length,
        artifactType: json.artifactType ?? json.config?.mediaType,
        ...(json.annotations ? { annotations: json.annotations } : {}),
      });
    this.index.set(`${repo}@${subject}`, list);
    return subject;
  }
}
