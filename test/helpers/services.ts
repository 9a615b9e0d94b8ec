import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * The real services the tests use, started by test/services/start.sh.
 * A test that needs one and finds it missing fails with how to start it:
 * tests never skip silently.
 */
export function servicesDir(): string {
  return process.env['ANEW_SERVICES_DIR'] ?? '/tmp/anew-services';
}

export function loadServicesEnv(): void {
  // The netns server writes its own file too (start.sh copies it into env): either is enough.
  for (const file of [path.join(servicesDir(), 'env'), path.join(servicesDir(), 'netns-server', 'env')]) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m && process.env[m[1]!] === undefined) process.env[m[1]!] = m[2]!;
    }
  }
}

export function service(name: string): string {
  loadServicesEnv();
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: the real services are not running. Start them with: bash test/services/start.sh`,
    );
  }
  return v;
}

export const services = {
  get dockerHost(): string {
    return service('ANEW_DOCKER_HOST');
  },
  get registry(): string {
    return service('ANEW_REGISTRY');
  },
  get authRegistry(): { host: string; username: string; password: string } {
    return {
      host: service('ANEW_REGISTRY_AUTH'),
      username: service('ANEW_REGISTRY_AUTH_USER'),
      password: service('ANEW_REGISTRY_AUTH_PASSWORD'),
    };
  },
  get caddyAdmin(): string {
    return service('ANEW_CADDY_ADMIN');
  },
  get sshDockerHost(): string {
    return service('ANEW_SSH_DOCKER_HOST');
  },
  /** The two-node swarm: its manager (the test engine) and its worker, whose tasks the router reaches at workerAddress. */
  get swarm(): { manager: string; worker: string; workerAddress: string } {
    return {
      manager: service('ANEW_SWARM_MANAGER'),
      worker: service('ANEW_SWARM_WORKER'),
      workerAddress: service('ANEW_SWARM_WORKER_ADDR'),
    };
  },
  /** The server reached only by ssh, in a network namespace of its own (test/services/netns-server.sh). */
  get netnsServer(): {
    namespace: string;
    address: string;
    dockerHost: string;
    dockerSock: string;
    haproxyMaster: string;
    haproxyConfig: string;
    routerPorts: [number, number];
    closedPorts: number[];
  } {
    return {
      namespace: service('ANEW_NETNS_NAME'),
      address: service('ANEW_NETNS_SERVER'),
      dockerHost: service('ANEW_NETNS_DOCKER_HOST'),
      dockerSock: service('ANEW_NETNS_DOCKER_SOCK'),
      haproxyMaster: service('ANEW_NETNS_HAPROXY_MASTER'),
      haproxyConfig: service('ANEW_NETNS_HAPROXY_CONFIG'),
      routerPorts: service('ANEW_NETNS_ROUTER_PORTS').split(':').map(Number) as [number, number],
      closedPorts: service('ANEW_NETNS_CLOSED_PORTS').split(',').map(Number),
    };
  },
  /** unix:// URL of the shared HAProxy's master CLI socket. */
  get haproxyMaster(): string {
    return service('ANEW_HAPROXY_MASTER');
  },
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitHttp(
  url: string,
  ok: (status: number) => boolean,
  what: string,
  child: ChildProcess,
  log: string,
) {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(url);
      if (ok(res.status)) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what} did not start: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : ''}`,
  );
}

export interface RunningService {
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

/** A fresh, empty registry of its own (distribution 2.8), for tests that need one nobody else writes to. */
export async function startRegistry(opts: { htpasswd?: string } = {}): Promise<RunningService> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-registry-'));
  const config = [
    'version: 0.1',
    'log: {level: warn, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: ${dir}/data}, delete: {enabled: true}}`,
    `http: {addr: 127.0.0.1:${port}}`,
    ...(opts.htpasswd ? [`auth: {htpasswd: {realm: anew-test, path: ${opts.htpasswd}}}`] : []),
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'config.yml'), config);
  const log = path.join(dir, 'log');
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], {
    stdio: ['ignore', fs.openSync(log, 'a'), fs.openSync(log, 'a')],
  });
  await waitHttp(`http://127.0.0.1:${port}/v2/`, (s) => s === 200 || s === 401, 'registry', child, log);
  return { host: `127.0.0.1:${port}`, port, dir, stop: stopper(child, dir) };
}

/** A Caddy of its own with the admin API on a free loopback port (`origins`: other Host values it accepts). */
export async function startCaddy(origins?: string[]): Promise<RunningService & { admin: string }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-caddy-'));
  const admin = {
    listen: `127.0.0.1:${port}`,
    ...(origins ? { origins: [`127.0.0.1:${port}`, ...origins] } : {}),
  };
  fs.writeFileSync(path.join(dir, 'caddy.json'), JSON.stringify({ admin }));
  const log = path.join(dir, 'log');
  const child = spawn('caddy', ['run', '--config', path.join(dir, 'caddy.json')], {
    stdio: ['ignore', fs.openSync(log, 'a'), fs.openSync(log, 'a')],
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  await waitHttp(`http://127.0.0.1:${port}/config/`, (s) => s === 200, 'caddy', child, log);
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    admin: `http://127.0.0.1:${port}`,
    stop: stopper(child, dir),
  };
}

/** The docker CLI against the test engine. */
export function docker(args: string[], opts: { input?: string; host?: string } = {}): string {
  return execFileSync('docker', args, {
    env: { ...process.env, DOCKER_HOST: opts.host ?? services.dockerHost },
    input: opts.input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export interface RunningHaproxy extends RunningService {
  /** unix:// URL of the master CLI socket. */
  master: string;
  /** The folder anew owns, loaded with -f after haproxy.cfg. */
  configDir: string;
  /** Stops HAProxy (SIGTERM to the master) and starts it again on the same files. */
  restart(): Promise<void>;
}

/**
 * An HAProxy of its own (Debian's 2.6) in master-worker mode, as a user runs
 * it for anew: a master CLI socket, the user's file, and anew's folder.
 */
export async function startHaproxy(): Promise<RunningHaproxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-haproxy-'));
  const configDir = path.join(dir, 'anew.d');
  fs.mkdirSync(configDir);
  fs.writeFileSync(
    path.join(dir, 'haproxy.cfg'),
    [
      'global',
      '  maxconn 4096',
      `  log stderr format raw local0 ${process.env['ANEW_HAPROXY_LOG'] ?? 'err'}`,
      // Lets a reload hand the listening sockets to the new process (no connection refused).
      `  stats socket ${path.join(dir, 'worker.sock')} mode 600 level admin expose-fd listeners`,
      '',
    ].join('\n'),
  );
  const sock = path.join(dir, 'master.sock');
  const log = path.join(dir, 'log');
  let child: ChildProcess;
  const start = async () => {
    fs.rmSync(sock, { force: true });
    child = spawn(
      'haproxy',
      ['-W', '-db', '-S', `${sock},mode,600`, '-f', path.join(dir, 'haproxy.cfg'), '-f', configDir],
      { stdio: ['ignore', fs.openSync(log, 'a'), fs.openSync(log, 'a')] },
    );
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      if (await masterAnswers(sock)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`haproxy did not start: ${fs.readFileSync(log, 'utf8').slice(-2000)}`);
  };
  const stop = async () => {
    if (child.exitCode === null) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
  };
  await start();
  return {
    host: '127.0.0.1',
    port: 0,
    dir,
    master: `unix://${sock}`,
    configDir,
    async restart() {
      await stop();
      await start();
    },
    async stop() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function masterAnswers(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(sock, () => s.end('show proc\n'));
    let out = '';
    s.on('data', (d) => {
      out += d;
    });
    s.on('close', () => resolve(/worker/.test(out)));
    s.on('error', () => resolve(false));
  });
}
