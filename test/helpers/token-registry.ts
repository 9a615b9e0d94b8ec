import { execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './services.ts';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export interface TokenRegistry {
  host: string;
  username: string;
  password: string;
  /** Token requests seen: scopes asked for, and whether credentials came with them. */
  tokenRequests: { scopes: string[]; authenticated: boolean }[];
  /** Every registry exchange: method, path, the status it got, and whether it came with a token. */
  exchanges: { method: string; path: string; status: number; token: boolean }[];
  /** Called before each registry request is answered, to expire tokens at a chosen point. */
  onRequest: (req: { method: string; path: string }) => void;
  /** Every token issued so far is refused from now on, as the registry refuses an expired one. */
  expireTokens(): void;
  stop(): Promise<void>;
}

export interface TokenRegistryOptions {
  /** Lifetime of the tokens issued (exp and expires_in), enforced to the millisecond. Default 300. */
  ttlSeconds?: number;
}

/**
 * The real registry in token-auth mode (as ghcr.io and Docker Hub work):
 * it answers 401 with a Bearer challenge naming a token service. The token
 * service is ours, a small issuer of ES256 JWTs with an x5c chain the
 * registry trusts; it grants push only with the right password and pull to
 * anyone, as a public repository does. Its tokens expire on time (or when
 * the test says), as a short-lived token of a real registry does.
 */
export async function startTokenRegistry(opts: TokenRegistryOptions = {}): Promise<TokenRegistry> {
  const ttl = opts.ttlSeconds ?? 300;
  /** Issued tokens by jti: when they stop being valid (ms). */
  const validUntil = new Map<string, number>();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-token-registry-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=anew-test-token-issuer',
    ],
    { stdio: 'ignore' },
  );
  const key = createPrivateKey(fs.readFileSync(path.join(dir, 'key.pem')));
  const certDer = new X509Certificate(fs.readFileSync(path.join(dir, 'cert.pem'))).raw;
  const username = 'token-user';
  const password = randomBytes(12).toString('hex');
  const tokenRequests: TokenRegistry['tokenRequests'] = [];

  const tokenServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : undefined;
    tokenRequests.push({ scopes, authenticated: given !== undefined });
    if (given !== undefined && given !== `${username}:${password}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }] }),
      );
      return;
    }
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(':');
      const wanted = (actions ?? '').split(',');
      return { type, name, actions: given ? wanted : wanted.filter((a) => a === 'pull') };
    });
    const now = Math.floor(Date.now() / 1000);
    const jti = randomBytes(8).toString('hex');
    validUntil.set(jti, Date.now() + ttl * 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }));
    const claims = b64url(
      JSON.stringify({
        iss: 'anew-test-issuer',
        sub: given ? username : '',
        aud: 'anew-test',
        exp: now + ttl,
        nbf: now - 10,
        iat: now,
        jti,
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(signature)}`, expires_in: ttl }));
  });
  await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  const tokenPort = (tokenServer.address() as net.AddressInfo).port;

  const port = await freePort();
  // The registry checks exp with a minute of leeway; this gate in front of it refuses a token
  // the moment it expires (or is expired by the test) by passing the request on without it,
  // so the registry itself answers with its 401 and its own challenge.
  const exchanges: TokenRegistry['exchanges'] = [];
  const sockets = new Set<net.Socket>();
  const api = {
    onRequest: (_: { method: string; path: string }) => {},
  };
  const gate = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const p = req.url ?? '/';
    api.onRequest({ method, path: p });
    const headers = { ...req.headers };
    const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '');
    if (bearer) {
      const claims = JSON.parse(Buffer.from(bearer[1]!.split('.')[1] ?? '', 'base64url').toString()) as {
        jti?: string;
      };
      if (!(Date.now() < (validUntil.get(claims.jti ?? '') ?? 0))) delete headers.authorization;
    }
    const up = http.request({ host: '127.0.0.1', port: registryPort, method, path: p, headers }, (upRes) => {
      exchanges.push({ method, path: p, status: upRes.statusCode ?? 0, token: !!bearer });
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  gate.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => gate.listen(port, '127.0.0.1', r));
  const registryPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: {level: warn, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${dir}/data}, delete: {enabled: true}}`,
      `http: {addr: 127.0.0.1:${registryPort}}`,
      `auth: {token: {realm: "http://127.0.0.1:${tokenPort}/token", service: anew-test, issuer: anew-test-issuer, rootcertbundle: ${dir}/cert.pem}}`,
    ].join('\n'),
  );
  const log = path.join(dir, 'log');
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], {
    stdio: ['ignore', fs.openSync(log, 'a'), fs.openSync(log, 'a')],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${registryPort}/v2/`)).status === 401) break;
    } catch {}
    if (i > 100 || child.exitCode !== null)
      throw new Error(`token registry did not start: ${fs.readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: `127.0.0.1:${port}`,
    username,
    password,
    tokenRequests,
    exchanges,
    set onRequest(f: (req: { method: string; path: string }) => void) {
      api.onRequest = f;
    },
    get onRequest() {
      return api.onRequest;
    },
    expireTokens() {
      for (const jti of validUntil.keys()) validUntil.set(jti, 0);
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => gate.close(r));
      child.kill('SIGTERM');
      await new Promise((r) => tokenServer.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
