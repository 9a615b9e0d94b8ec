import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { errorMessage, UserError } from '../../errors/index.ts';
import { Exec, type ExecOptions, type ExecResult } from '../../exec/index.ts';
import { type SshConnection, serverConnector } from '../../exec/ssh.ts';
import type { Logger } from '../../log/index.ts';
import {
  LABELS,
  labelsOf,
  metaFromLabels,
  type RegistryAuth,
  type StartSpec,
  type Target,
  type TargetEngine,
} from '../index.ts';
import { engineHostName, resolveSshHostName } from './address.ts';
import {
  envFileText,
  imageDigestsArgs,
  imageExistsArgs,
  inspectArgs,
  listArgs,
  logsArgs,
  pullArgs,
  removeArgs,
  removeImageArgs,
  runArgs,
} from './argv.ts';

/** Host ports handed to targets on `network: host`: below Linux's ephemeral range, so clients' ports never collide. */
export const HOST_PORT_RANGE = { min: 20000, max: 29999 } as const;

export interface DockerEngineOptions {
  /** DOCKER_HOST of the engine; "" uses the CLI's default (DOCKER_HOST or the local socket). */
  host: string;
  /** "host", or the name of a Docker network the router is also on. */
  network: string;
  exec?: Exec;
  log: Logger;
}

interface Inspected {
  Id: string;
  Name: string;
  Image: string;
  State: { Status: string };
  Config: { Labels: Record<string, string> | null };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> | null };
}

/** A Docker engine reached through the docker CLI (local, tcp:// or ssh://). */
export class DockerEngine implements TargetEngine {
  readonly id: string;
  private readonly exec: Exec;
  private hostName: Promise<string> | undefined;
  /** For an engine over ssh: the server is where its targets' addresses mean something. */
  private readonly ssh: SshConnection | undefined;
  readonly connector: ((host: string, port: number) => Promise<Duplex>) | undefined;

  constructor(private readonly opts: DockerEngineOptions) {
    this.id = opts.host || process.env['DOCKER_HOST'] || 'local';
    this.exec = opts.exec ?? new Exec(opts.log);
    ({ ssh: this.ssh, connector: this.connector } = serverConnector(this.id));
  }

  async close(): Promise<void> {
    await this.ssh?.close();
  }

  private docker(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const env = { ...process.env, ...opts.env };
    if (this.opts.host) env['DOCKER_HOST'] = this.opts.host;
    return this.exec.run('docker', args, { ...opts, env });
  }

  /** Where the router and health checks reach containers on the host network. */
  address(): Promise<string> {
    this.hostName ??= (async () => {
      const h = engineHostName(this.opts.host || process.env['DOCKER_HOST'] || '');
      return typeof h === 'string' ? h : resolveSshHostName(this.exec, h.sshAlias);
    })();
    return this.hostName;
  }

  async pull(image: string, auth?: RegistryAuth): Promise<void> {
    const have = await this.docker(imageExistsArgs(image), { quiet: true, ignoreReturnCode: true });
    if (have.code === 0) return;
    // Given credentials go to a throw-away client config for this pull only: the user's stays untouched.
    const config = auth ? dockerConfigWith(auth) : undefined;
    const res = await this.docker(pullArgs(image), {
      ignoreReturnCode: true,
      env: config ? { DOCKER_CONFIG: config } : {},
    }).finally(() => config && fs.rmSync(config, { recursive: true, force: true }));
    if (res.code !== 0)
      throw new UserError(
        `${this.id} could not pull ${image}: ${lastLines(res.stderr || res.stdout, 3)}`,
        'Check that the digest exists in the registry and that the engine can log in to it',
      );
  }

  async start(spec: StartSpec): Promise<Target[]> {
    const hostNet = this.opts.network === 'host';
    let address: string;
    const inlineEnv: Record<string, string> = {};
    if (hostNet) {
      const port = await this.freePort();
      address = `${await this.address()}:${port}`;
      inlineEnv['PORT'] = String(port);
    } else {
      address = `${spec.name}:${spec.port}`;
      inlineEnv['PORT'] = String(spec.port);
    }
    const app = Object.fromEntries(Object.entries(spec.env).filter(([k]) => k !== 'PORT'));
    const text = envFileText(app);
    // A private folder (0700) and file (0600), gone once docker run has read it.
    const dir = text ? fs.mkdtempSync(path.join(os.tmpdir(), 'anew-env-')) : undefined;
    const envFile = dir ? path.join(dir, 'env') : undefined;
    if (envFile) fs.writeFileSync(envFile, text, { mode: 0o600 });
    const args = runArgs({
      name: spec.name,
      image: spec.meta.image,
      labels: { ...labelsOf(spec.meta, address), [LABELS.network]: this.opts.network },
      network: this.opts.network,
      inlineEnv,
      envFile,
      memory: spec.memory,
      cpus: spec.cpus,
    });
    const res = await this.docker(args, { ignoreReturnCode: true }).finally(
      () => dir && fs.rmSync(dir, { recursive: true, force: true }),
    );
    if (res.code !== 0) {
      // docker run can create the container and then fail to start it: never leave it behind.
      await this.docker(removeArgs(spec.name), { quiet: true, ignoreReturnCode: true });
      throw new UserError(`${this.id} could not start ${spec.name}: ${lastLines(res.stderr, 3)}`);
    }
    const [target] = await this.inspect([spec.name]);
    if (!target) throw new Error(`container ${spec.name} vanished right after it started`);
    return [target];
  }

  async list(filter: { app?: string; environment?: string }): Promise<Target[]> {
    const res = await this.docker(listArgs(filter), { quiet: true });
    const ids = res.stdout.split('\n').filter(Boolean);
    return ids.length === 0 ? [] : this.inspect(ids);
  }

  private async inspect(ids: string[]): Promise<Target[]> {
    const res = await this.docker(inspectArgs(ids), { quiet: true, ignoreReturnCode: true });
    // A container can go between ps and inspect: inspect prints the others and fails.
    const all = JSON.parse(res.stdout || '[]') as Inspected[];
    const out: Target[] = [];
    for (const c of all) {
      const meta = metaFromLabels(c.Config.Labels);
      if (!meta) continue;
      const name = c.Name.replace(/^\//, '');
      const address = c.Config.Labels?.[LABELS.address] ?? '';
      let url = `http://${address}`;
      const network = c.Config.Labels?.[LABELS.network] ?? 'host';
      if (network !== 'host') {
        // On a named network the name resolves only inside it; checks from here use the container's IP there.
        const ip = c.NetworkSettings.Networks?.[network]?.IPAddress;
        if (ip) url = `http://${ip}:${address.slice(address.lastIndexOf(':') + 1)}`;
      }
      out.push({ name, engine: this.id, address, url, meta, state: c.State.Status, imageId: c.Image });
    }
    return out;
  }

  async remove(target: Target): Promise<void> {
    await this.docker(removeArgs(target.name), { ignoreReturnCode: true });
    // Its image too, unless another container still uses it (docker then refuses, which is fine):
    // retired releases must not fill the engine's disk.
    if (target.imageId)
      await this.docker(removeImageArgs(target.imageId), { quiet: true, ignoreReturnCode: true });
  }

  async logs(target: Target, lines: number): Promise<string> {
    const res = await this.docker(logsArgs(target.name, lines), { quiet: true, ignoreReturnCode: true });
    return `${res.stdout}${res.stderr}`.trim();
  }

  async runsLabelledImage(target: Target): Promise<boolean> {
    const res = await this.docker(imageDigestsArgs(target.imageId), { quiet: true, ignoreReturnCode: true });
    if (res.code !== 0) return false;
    const digests = JSON.parse(res.stdout || '[]') as string[] | null;
    return (digests ?? []).some((d) => d.endsWith(`@${target.meta.digest}`));
  }

  /**
   * A host port no anew target on this engine uses and nothing answers on
   * now. Chosen at random, so two deploys at once rarely pick the same one;
   * a collision that slips through makes the app fail to bind, and the
   * deploy retries with another port.
   */
  private async freePort(): Promise<number> {
    // Without the list, a port another target holds (stopped now, started again later) could be handed out twice.
    const targets = await this.list({}).catch((e: unknown) => {
      throw new UserError(
        `${this.id} did not list its containers, so no free port could be chosen safely (${errorMessage(e)})`,
        'Check that the engine answers (docker ps) and retry',
      );
    });
    const taken = new Set(targets.map((t) => t.address.split(':').pop()));
    const host = await this.address();
    for (let i = 0; i < 20; i++) {
      const port =
        HOST_PORT_RANGE.min + Math.floor(Math.random() * (HOST_PORT_RANGE.max - HOST_PORT_RANGE.min));
      if (taken.has(String(port))) continue;
      // A server reached by ssh keeps its ports to itself (a firewall may drop a probe from here
      // rather than refuse it): a port taken by something else makes the app fail to bind, and
      // the deploy retries on another.
      if (this.ssh || !(await answers(host, port))) return port;
    }
    throw new Error(`no free port found on ${this.id} in ${HOST_PORT_RANGE.min}-${HOST_PORT_RANGE.max}`);
  }
}

/** Whether something accepts connections on host:port now (a timeout counts as yes: the port is not safe to take). */
export function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 500 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A throw-away docker client config holding one login. */
export function dockerConfigWith(auth: RegistryAuth): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-docker-config-'));
  const token = Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ auths: { [auth.registry]: { auth: token } } }),
    {
      mode: 0o600,
    },
  );
  return dir;
}

export function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' / ');
}
