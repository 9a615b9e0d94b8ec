import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { UserError } from '../errors/index.ts';

/**
 * The options of every ssh anew runs: never a prompt, a bounded connect, and
 * the control socket that multiplexes one connection for all of it.
 */
export function sshOptions(control: string, port: string | undefined): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=15',
    '-o',
    `ControlPath=${control}`,
    ...(port ? ['-p', port] : []),
  ];
}

/** user@host (as ssh takes it) and port of an ssh:// URL whose host and lack of a password the caller has checked. */
export function sshDestination(u: URL): { destination: string; port: string | undefined } {
  const user = decodeURIComponent(u.username);
  return { destination: user ? `${user}@${u.hostname}` : u.hostname, port: u.port || undefined };
}

/**
 * A long-lived ssh process (a master connection, or a forward) with a
 * private folder for its sockets: started once, on first use, and ready
 * when ssh has made the socket it was asked for; `close` ends it and removes
 * the folder. What SshConnection and the routers' admin transport share.
 */
export class SshProcess {
  private dir: string | undefined;
  private child: ChildProcess | undefined;
  private ready: Promise<string> | undefined;
  private readonly killOnExit = () => this.child?.kill();

  /** `what` names what ssh reaches, for messages: "could not reach <what> through ssh". */
  constructor(private readonly what: string) {}

  /** The private folder, once started. */
  get folder(): string | undefined {
    return this.dir;
  }

  /**
   * Starts `ssh` with the arguments `setup` gives for the private folder,
   * once, and resolves with the socket it names once ssh has made it.
   */
  start(prefix: string, setup: (dir: string) => { args: string[]; socket: string }): Promise<string> {
    this.ready ??= new Promise<string>((resolve, reject) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      fs.chmodSync(dir, 0o700);
      this.dir = dir;
      const { args, socket } = setup(dir);
      const child = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      this.child = child;
      process.once('exit', this.killOnExit);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
      });
      const fail = (why: string) => {
        clearInterval(poll);
        this.ready = undefined;
        reject(
          new UserError(
            `could not reach ${this.what} through ssh: ${why}`,
            'Check that `ssh` to that host works from here with the agent or keys the docker CLI uses',
          ),
        );
      };
      child.on('error', (e) => fail(e.message));
      child.on('exit', (code) =>
        fail(`ssh exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`),
      );
      const deadline = Date.now() + 30_000;
      const poll = setInterval(() => {
        if (fs.existsSync(socket)) {
          clearInterval(poll);
          child.removeAllListeners('exit');
          child.on('exit', () => {
            this.ready = undefined;
          });
          resolve(socket);
        } else if (Date.now() > deadline) {
          child.kill();
          fail('no connection within 30 s');
        }
      }, 20);
    });
    return this.ready;
  }

  async close(): Promise<void> {
    process.off('exit', this.killOnExit);
    const child = this.child;
    if (child && child.exitCode === null) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill();
      await done;
    }
    this.child = undefined;
    this.ready = undefined;
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

/**
 * One ssh connection to a server, shared by everything anew opens there
 * (ssh's connection multiplexing): a TCP connection to an address as the
 * server sees it (`ssh -W`), which is how health checks reach a target on a
 * remote engine without the runner reaching its address. ssh runs as the
 * docker CLI runs it: the runner's agent, keys, ~/.ssh/config and
 * known_hosts. `close` ends it; nothing of it outlives the step.
 */
export class SshConnection {
  private readonly ssh: SshProcess;

  constructor(
    /** user@host (or an alias) as ssh takes it. */
    readonly destination: string,
    readonly port?: string,
  ) {
    this.ssh = new SshProcess(destination);
  }

  /** ssh://[user@]host[:port] as docker-host names it. */
  static fromUrl(url: string): SshConnection {
    const u = new URL(url);
    if (u.protocol !== 'ssh:' || !u.hostname || u.password)
      throw new UserError(`"${url}" is not an ssh://user@host address`, 'Use ssh://user@host[:port]');
    const { destination, port } = sshDestination(u);
    return new SshConnection(destination, port);
  }

  private base(control: string): string[] {
    return sshOptions(control, this.port);
  }

  /** The control socket, once the master connection is up. */
  private open(): Promise<string> {
    return this.ssh.start('anew-ssh-', (dir) => {
      const control = path.join(dir, 'control');
      return {
        args: [...this.base(control), '-M', '-N', '-o', 'ServerAliveInterval=15', this.destination],
        socket: control,
      };
    });
  }

  /**
   * A TCP connection from the server to host:port (as the server resolves
   * it). A refused connection ends the stream without data, as a reset would.
   */
  async dial(host: string, port: number): Promise<Duplex> {
    const control = await this.open();
    const child = spawn('ssh', [...this.base(control), '-W', `${host}:${port}`, this.destination], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const stream = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
    child.stdin!.on('error', () => undefined);
    stream.on('close', () => child.kill());
    // After its output is read: a connection the server closed ends like one closed here.
    child.on('close', () => stream.destroy());
    return stream;
  }

  close(): Promise<void> {
    return this.ssh.close();
  }
}

/**
 * For an engine reached over ssh:// (docker-host): the server-side connection
 * its health checks ride on, and how they dial through it. None for a local
 * or tcp:// engine, whose targets the runner reaches itself.
 */
export function serverConnector(engine: string): {
  ssh?: SshConnection;
  connector?: (host: string, port: number) => Promise<Duplex>;
} {
  if (!engine.startsWith('ssh://')) return {};
  const ssh = SshConnection.fromUrl(engine);
  return { ssh, connector: (host, port) => ssh.dial(host, port) };
}
