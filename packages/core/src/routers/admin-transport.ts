import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { UserError } from '../errors/index.ts';
import { ExecError, type ExecResult } from '../exec/index.ts';
import { SshProcess, sshDestination, sshOptions } from '../exec/ssh.ts';

/**
 * How anew reaches a router's admin API (Caddy's HTTP admin, HAProxy's
 * master CLI) and the machine it runs on. The admin address is always named
 * as the server sees it; the transport says how to get there:
 *
 *   http://127.0.0.1:2019                 a TCP connection
 *   https://web1:2019                     TLS, with the server's CA and a client certificate (Caddy's remote admin)
 *   unix:///run/haproxy/master.sock       a local unix socket
 *   ssh://user@host[:port]/127.0.0.1:2019 the admin address on that host, through ssh
 *   ssh://user@host/run/haproxy/master.sock
 *
 * Over ssh the admin API stays on the server's loopback. ssh runs as the
 * docker CLI runs it (the runner's agent, keys, ~/.ssh/config and
 * known_hosts; no key input). One ssh connection per transport carries
 * everything: a local forward from a private unix socket to the admin
 * address (OpenSSH forwards a local socket to a remote TCP address or to a
 * remote socket alike, where `ssh -W` knows only TCP), and, multiplexed on
 * the same connection, the shell commands a driver needs on the server (to
 * keep HAProxy's files in step). A connection per request (`ssh -W`) would
 * pay an ssh handshake for each of the dozen commands of one flip.
 */
export interface AdminTlsOptions {
  /** PEM of the CA that signed the admin endpoint's certificate (else the system's CAs). */
  ca?: string;
  /** PEM client certificate and key, for an endpoint that asks for one (mutual TLS). */
  cert?: string;
  key?: string;
}

export type AdminAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface AdminTransport {
  /** The router-url as given, for messages (it holds no secret: keys are options). */
  readonly url: string;
  /** The admin address as seen on the server. */
  readonly address: AdminAddress;
  /** The host a wildcard listen address is reached on from here. */
  readonly serverHost: string;
  /** A new connection to the admin address. */
  connect(): Promise<Duplex>;
  /** Runs a POSIX shell script on the admin API's machine (here, or there through ssh). */
  shell(script: string, input?: string): Promise<ExecResult>;
  /** Ends the ssh connection, if any. */
  close(): Promise<void>;
}

export function adminTransport(url: string, opts: AdminTlsOptions = {}): AdminTransport {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(
      `router-url "${url}" is not a URL`,
      'Use e.g. http://127.0.0.1:2019, unix:///run/haproxy/master.sock or ssh://user@host/127.0.0.1:2019',
    );
  }
  if ((opts.cert === undefined) !== (opts.key === undefined))
    throw new UserError('router-cert and router-key go together', 'Give both, or neither');
  if ((opts.ca || opts.cert) && u.protocol !== 'https:')
    throw new UserError(
      `router-ca, router-cert and router-key are for an https:// router-url, not ${u.protocol}//`,
      'Remove them, or use the https:// address of the admin API',
    );
  switch (u.protocol) {
    case 'http:':
    case 'https:': {
      if (u.pathname !== '/' || u.search)
        throw new UserError(`router-url "${url}" has a path`, 'Name only the admin API: http://host:port');
      const address = tcpAddress(u.host, url);
      const secure = u.protocol === 'https:';
      return new DirectTransport(url, address, address.host, () =>
        secure
          ? tlsConnect(address, opts)
          : connected(net.connect({ host: address.host, port: address.port })),
      );
    }
    case 'unix:': {
      const p = decodeURIComponent(u.pathname);
      if (!path.isAbsolute(p) || u.host)
        throw new UserError(`router-url "${url}" does not name a socket`, 'Use unix:///absolute/path.sock');
      return new DirectTransport(url, { kind: 'unix', path: p }, '127.0.0.1', () =>
        connected(net.connect(p)),
      );
    }
    case 'ssh:':
      return new SshTransport(url, sshTarget(u, url), remoteAddress(u, url));
    default:
      throw new UserError(
        `router-url "${url}" uses ${u.protocol}, which anew does not know`,
        'Use http://, https://, unix:// or ssh://user@host/<admin address on that host>',
      );
  }
}

function tcpAddress(hostPort: string, url: string): AdminAddress & { kind: 'tcp' } {
  const m = /^(\[[^\]]+\]|[^:/[\]]+):(\d{1,5})$/.exec(hostPort);
  if (!m || Number(m[2]) > 65535)
    throw new UserError(
      `router-url "${url}" does not name an admin address as host:port (got "${hostPort}")`,
      'Write the port too, e.g. 127.0.0.1:2019',
    );
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** ssh://user@host[:port]/<address>: the path is the admin address on that host. */
function remoteAddress(u: URL, url: string): AdminAddress {
  const p = decodeURIComponent(u.pathname);
  const rest = p.replace(/^\//, '');
  if (rest === '')
    throw new UserError(
      `router-url "${url}" does not say where the admin API is on that host`,
      'Add it as the path: ssh://user@host/127.0.0.1:2019 or ssh://user@host/run/haproxy/master.sock',
    );
  if (!rest.includes('/')) return tcpAddress(rest, url);
  return { kind: 'unix', path: p };
}

export interface SshTarget {
  /** user@host as ssh takes it (an alias from ~/.ssh/config works). */
  destination: string;
  port?: string;
  host: string;
}

function sshTarget(u: URL, url: string): SshTarget {
  if (!u.hostname) throw new UserError(`router-url "${url}" names no ssh host`, 'Use ssh://user@host/…');
  if (u.password)
    throw new UserError(
      'router-url must not carry a password',
      'ssh authenticates with the runner’s agent or keys, as docker-host does',
    );
  return { ...sshDestination(u), host: u.hostname };
}

/** The ssh argv of a command on the target through the control connection (a pure function, for tests). */
export function sshArgs(target: SshTarget, control: string, extra: readonly string[]): string[] {
  return [...sshOptions(control, target.port), ...extra, target.destination];
}

function connected(socket: net.Socket): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function tlsConnect(a: AdminAddress & { kind: 'tcp' }, opts: AdminTlsOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: a.host,
      port: a.port,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      servername: net.isIP(a.host) ? undefined : a.host,
    });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function runShell(argv: string[], input: string | undefined): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    // A script that does not read its input may exit before it is written.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

class DirectTransport implements AdminTransport {
  constructor(
    readonly url: string,
    readonly address: AdminAddress,
    readonly serverHost: string,
    readonly connect: () => Promise<Duplex>,
  ) {}
  shell(script: string, input?: string): Promise<ExecResult> {
    return runShell(['sh', '-c', script], input);
  }
  async close(): Promise<void> {}
}

class SshTransport implements AdminTransport {
  private readonly ssh: SshProcess;

  constructor(
    readonly url: string,
    readonly target: SshTarget,
    readonly address: AdminAddress,
  ) {
    this.ssh = new SshProcess(`the admin API (${url})`);
  }

  private resolvedHost: string | undefined;

  /**
   * The host name ssh really connects to: an alias from ~/.ssh/config is
   * no name a client can resolve (`ssh -G` reads the configuration only; it
   * connects nowhere).
   */
  get serverHost(): string {
    if (this.resolvedHost === undefined) {
      try {
        const out = execFileSync(
          'ssh',
          ['-G', ...(this.target.port ? ['-p', this.target.port] : []), this.target.destination],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 },
        );
        const line = out.split('\n').find((l) => l.startsWith('hostname '));
        this.resolvedHost = line ? line.slice('hostname '.length).trim() : this.target.host;
      } catch {
        this.resolvedHost = this.target.host;
      }
    }
    return this.resolvedHost;
  }

  /** The local end of the forward, once the ssh connection is up. */
  private open(): Promise<string> {
    // A private folder: the forwarded socket is the admin API, as reachable as this folder.
    return this.ssh.start('anew-admin-', (dir) => {
      const local = path.join(dir, 'admin.sock');
      const remote =
        this.address.kind === 'tcp' ? `${this.address.host}:${this.address.port}` : this.address.path;
      const args = sshArgs(this.target, path.join(dir, 'control'), [
        '-N',
        '-M',
        '-o',
        'ExitOnForwardFailure=yes',
        '-o',
        'StreamLocalBindUnlink=yes',
        '-o',
        'ServerAliveInterval=15',
        '-L',
        `${local}:${remote}`,
      ]);
      return { args, socket: local };
    });
  }

  async connect(): Promise<Duplex> {
    return connected(net.connect(await this.open()));
  }

  async shell(script: string, input?: string): Promise<ExecResult> {
    await this.open();
    // The remote shell joins its arguments into one command line: quote the script as one word.
    const args = sshArgs(this.target, path.join(this.ssh.folder!, 'control'), []);
    const res = await runShell(['ssh', ...args, `sh -c ${shellQuote(script)}`], input);
    if (res.code === 255)
      throw new ExecError(`ssh to ${this.target.destination} failed: ${res.stderr.trim()}`, res);
    return res;
  }

  close(): Promise<void> {
    return this.ssh.close();
  }
}

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
