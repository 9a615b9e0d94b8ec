import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { errorMessage, UserError } from '../../errors/index.ts';
import { Exec, type ExecOptions, type ExecResult } from '../../exec/index.ts';
import { type SshConnection, serverConnector } from '../../exec/ssh.ts';
import type { Logger } from '../../log/index.ts';
import { answers, dockerConfigWith, envFileText, lastLines } from '../docker/index.ts';
import {
  LABELS,
  labelsOf,
  metaFromLabels,
  type StartSpec,
  type Target,
  type TargetEngine,
} from '../index.ts';
import {
  NODE_ADDRESS_LABEL,
  nodeInspectArgs,
  nodeListArgs,
  serviceCreateArgs,
  serviceInspectArgs,
  serviceListArgs,
  serviceLogsArgs,
  serviceRemoveArgs,
  taskIdsArgs,
  taskInspectArgs,
} from './argv.ts';
import { checkReplicas, parseBlock, portOf, portTemplate, SWARM_PORT_BLOCKS } from './ports.ts';

export interface SwarmEngineOptions {
  /** DOCKER_HOST of a manager; "" uses the CLI's default. */
  host: string;
  exec?: Exec;
  log: Logger;
  /** How often the tasks are read while waiting for them (ms). */
  pollMs?: number;
}

interface ServiceJson {
  ID: string;
  Spec: {
    Name: string;
    Labels: Record<string, string> | null;
    Mode: { Replicated?: { Replicas?: number } };
  };
}

interface TaskJson {
  ID: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  CreatedAt: string;
  Status: { State: string; Err?: string; Timestamp: string };
  Spec: { ContainerSpec: { Image: string } };
}

interface NodeJson {
  ID: string;
  Spec: { Labels: Record<string, string> | null };
  Status: { State: string; Addr: string };
}

/** What the manager says about some services, read once. */
interface Snapshot {
  services: ServiceJson[];
  tasks: TaskJson[];
  nodes: Map<string, NodeJson>;
}

/** A task that failed this many times per replica while a deploy waits means it will not run. */
const FAILURES_PER_REPLICA = 3;

/**
 * A Docker Swarm reached through one manager (local, tcp:// or ssh://). A
 * release is a service; its targets are the service's tasks, one per slot,
 * on host networking at the node's address and the release's port for that
 * slot (see ports.ts). Read from the manager every time, so a task the
 * swarm moved to another node is seen where it runs now.
 */
export class SwarmEngine implements TargetEngine {
  readonly id: string;
  private readonly exec: Exec;
  /** A manager over ssh: health checks reach the tasks from there, as the nodes reach each other. */
  private readonly ssh: SshConnection | undefined;
  readonly connector: ((host: string, port: number) => Promise<Duplex>) | undefined;

  constructor(private readonly opts: SwarmEngineOptions) {
    this.id = opts.host || process.env['DOCKER_HOST'] || 'local';
    this.exec = opts.exec ?? new Exec(opts.log);
    ({ ssh: this.ssh, connector: this.connector } = serverConnector(this.id));
  }

  private docker(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const env = { ...process.env, ...opts.env };
    if (this.opts.host) env['DOCKER_HOST'] = this.opts.host;
    return this.exec.run('docker', args, { ...opts, env });
  }

  /** The nodes pull when their tasks are scheduled, with the login start hands on; errors surface as task errors. */
  async pull(): Promise<void> {}

  async start(spec: StartSpec): Promise<Target[]> {
    const { meta } = spec;
    if (!/@sha256:[0-9a-f]{64}$/.test(meta.image))
      throw new UserError(
        `the swarm would run ${meta.image}, which is not pinned by digest`,
        'Deploy repository@sha256:…, so every node runs the same image',
      );
    const replicas = spec.replicas ?? 1;
    checkReplicas(replicas);
    const app = Object.fromEntries(Object.entries(spec.env).filter(([k]) => k !== 'PORT'));
    const text = envFileText(app);
    const block = await this.freeBlock(replicas);
    const ports = `${portOf(block, 1)}-${portOf(block, replicas)}`;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-swarm-'));
    const envFile = text ? path.join(tmp, 'env') : undefined;
    if (envFile) fs.writeFileSync(envFile, text, { mode: 0o600 });
    const config = spec.registryAuth ? dockerConfigWith(spec.registryAuth) : undefined;
    const args = serviceCreateArgs({
      name: spec.name,
      image: meta.image,
      replicas,
      labels: {
        ...labelsOf(meta, `*:${ports}`),
        [LABELS.network]: 'host',
        [LABELS.portBlock]: String(block),
        [LABELS.replicas]: String(replicas),
      },
      inlineEnv: { PORT: portTemplate(block) },
      envFile,
      constraints: spec.constraints ?? [],
      memory: spec.memory,
      cpus: spec.cpus,
      withRegistryAuth: true,
    });
    const res = await this.docker(args, {
      ignoreReturnCode: true,
      env: config ? { DOCKER_CONFIG: config } : {},
    }).finally(() => {
      fs.rmSync(tmp, { recursive: true, force: true });
      if (config) fs.rmSync(config, { recursive: true, force: true });
    });
    if (res.code !== 0) {
      await this.removeService(spec.name);
      throw new UserError(
        `${this.id} could not create the service ${spec.name}: ${lastLines(res.stderr, 3)}`,
        'Check that docker-host names a swarm manager and that the constraints are valid',
      );
    }
    try {
      return await this.waitRunning(spec.name, replicas, spec.timeoutMs ?? 60_000);
    } catch (e) {
      await this.removeService(spec.name);
      throw e;
    }
  }

  /** Until every slot's task runs; fails with the tasks' errors when they keep failing or time runs out. */
  private async waitRunning(name: string, replicas: number, timeoutMs: number): Promise<Target[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const snap = await this.snapshot([name]);
      const targets = this.targetsOf(snap);
      if (targets.length === replicas && targets.every((t) => t.state === 'running')) return targets;
      const failed = snap.tasks.filter((t) => ['failed', 'rejected'].includes(t.Status.State));
      const late = Date.now() >= deadline;
      if (late || failed.length >= FAILURES_PER_REPLICA * replicas) {
        const now = targets.map((t) => `${t.instance}: ${t.state}`).join(', ');
        throw new UserError(
          `the tasks of ${name} did not all run ${late ? `within ${timeoutMs / 1000} s` : `(${failed.length} failed)`}; now ${now || 'none'}. The swarm says:\n${taskErrors(snap) || '    (no task error)'}\nThe service was removed; nothing else changed.`,
          'Check the image (every node must be able to pull it), the constraints, and that enough nodes are available',
        );
      }
      await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 500));
    }
  }

  async list(filter: { app?: string; environment?: string }): Promise<Target[]> {
    const ids = await this.serviceIds(filter);
    return ids.length === 0 ? [] : this.targetsOf(await this.snapshot(ids));
  }

  /** The anew services; the first thing every operation asks, so a host that is no manager is told here. */
  private async serviceIds(filter: { app?: string; environment?: string }): Promise<string[]> {
    const res = await this.docker(serviceListArgs(filter), { quiet: true, ignoreReturnCode: true });
    if (res.code !== 0)
      throw new UserError(
        `${this.id} did not list its swarm services: ${lastLines(res.stderr || res.stdout, 2)}`,
        'With driver swarm, docker-host names a manager of the swarm (docker node ls answers there)',
      );
    return res.stdout.split('\n').filter(Boolean);
  }

  private async snapshot(services: string[]): Promise<Snapshot> {
    const read = async <T>(args: string[]): Promise<T[]> => {
      // Something can go between a listing and its inspect: inspect prints the others and fails.
      const r = await this.docker(args, { quiet: true, ignoreReturnCode: true });
      return JSON.parse(r.stdout.trim() || '[]') as T[];
    };
    const svcs = await read<ServiceJson>(serviceInspectArgs(services));
    if (svcs.length === 0) return { services: [], tasks: [], nodes: new Map() };
    const taskIds = (
      await this.docker(taskIdsArgs(svcs.map((s) => s.ID)), { quiet: true, ignoreReturnCode: true })
    ).stdout
      .split('\n')
      .filter(Boolean);
    const nodeIds = (await this.docker(nodeListArgs(), { quiet: true })).stdout.split('\n').filter(Boolean);
    const [tasks, nodes] = await Promise.all([
      taskIds.length ? read<TaskJson>(taskInspectArgs(taskIds)) : [],
      read<NodeJson>(nodeInspectArgs(nodeIds)),
    ]);
    return { services: svcs, tasks, nodes: new Map(nodes.map((n) => [n.ID, n])) };
  }

  /** One target per slot of each service: the task the swarm wants running there, or a gap. */
  private targetsOf(snap: Snapshot): Target[] {
    const out: Target[] = [];
    for (const svc of snap.services) {
      const meta = metaFromLabels(svc.Spec.Labels);
      const block = parseBlock(svc.Spec.Labels?.[LABELS.portBlock]);
      if (!meta || block === undefined) continue;
      // A slot the release was deployed with and the service lost (scaled down) is a gap, not gone.
      const deployed = Number(svc.Spec.Labels?.[LABELS.replicas]) || 0;
      const replicas = Math.max(deployed, svc.Spec.Mode.Replicated?.Replicas ?? 0);
      const current = snap.tasks
        .filter((t) => t.ServiceID === svc.ID && t.DesiredState === 'running')
        .sort((a, b) => b.CreatedAt.localeCompare(a.CreatedAt));
      for (let slot = 1; slot <= replicas; slot++) {
        const task = current.find((t) => t.Slot === slot);
        const node = task?.NodeID ? snap.nodes.get(task.NodeID) : undefined;
        const host = node ? nodeAddress(node) : 'unassigned';
        const address = `${host}:${portOf(block, slot)}`;
        let state = task ? task.Status.State : 'missing';
        // A node that left still lists its tasks as running until the swarm moves them.
        if (state === 'running' && node && node.Status.State !== 'ready')
          state = `on a ${node.Status.State} node`;
        out.push({
          name: svc.Spec.Name,
          engine: this.id,
          address,
          url: `http://${address}`,
          meta,
          state,
          imageId: task?.Spec.ContainerSpec.Image ?? '',
          instance: `task ${slot}${node ? ` on ${host}` : ''}`,
        });
      }
    }
    return out;
  }

  /**
   * A prefix whose ports no anew service on the swarm holds and nothing
   * answers on at any node now, chosen at random so that two deploys at
   * once rarely pick the same one.
   */
  private async freeBlock(replicas: number): Promise<number> {
    const ids = await this.serviceIds({});
    const snap = await this.snapshot(ids).catch((e: unknown) => {
      throw new UserError(
        `${this.id} did not describe its services, so no free ports could be chosen safely (${errorMessage(e)})`,
        'Check that the manager answers (docker service inspect) and retry',
      );
    });
    const taken = new Set(snap.services.map((s) => parseBlock(s.Spec.Labels?.[LABELS.portBlock])));
    const nodeRes = await this.docker(nodeListArgs(), { quiet: true });
    const nodes = JSON.parse(
      (await this.docker(nodeInspectArgs(nodeRes.stdout.split('\n').filter(Boolean)), { quiet: true }))
        .stdout,
    ) as NodeJson[];
    const hosts = [...new Set(nodes.map(nodeAddress))];
    const span = SWARM_PORT_BLOCKS.max - SWARM_PORT_BLOCKS.min + 1;
    for (let i = 0; i < 30; i++) {
      const block = SWARM_PORT_BLOCKS.min + Math.floor(Math.random() * span);
      if (taken.has(block)) continue;
      const checks = hosts.flatMap((h) =>
        Array.from({ length: replicas }, (_, s) => answers(h, portOf(block, s + 1))),
      );
      if (!(await Promise.all(checks)).some(Boolean)) return block;
    }
    throw new UserError(
      `no free block of ${replicas} port(s) found on the swarm of ${this.id} (nodes ${hosts.join(', ')})`,
      'Check that this machine reaches the nodes at those addresses (the port and health checks dial them), or set the node label dev.anew.address',
    );
  }

  async remove(target: Target): Promise<void> {
    await this.removeService(target.name);
  }

  /** Every copy of a release goes with its service; removing it again is a no-op. */
  private async removeService(name: string): Promise<void> {
    const res = await this.docker(serviceRemoveArgs(name), { ignoreReturnCode: true, quiet: true });
    if (res.code !== 0 && !/not found/i.test(res.stderr))
      throw new Error(`${this.id} could not remove the service ${name}: ${lastLines(res.stderr, 3)}`);
    if (res.code === 0) this.opts.log.info(`Removed the service ${name} on ${this.id}`);
  }

  async logs(target: Target, lines: number): Promise<string> {
    const [logs, snap] = await Promise.all([
      this.docker(serviceLogsArgs(target.name, lines), { quiet: true, ignoreReturnCode: true }),
      this.snapshot([target.name]),
    ]);
    const errors = taskErrors(snap);
    return `${errors ? `task errors:\n${errors}\n` : ''}${logs.stdout}${logs.stderr}`.trim();
  }

  async close(): Promise<void> {
    await this.ssh?.close();
  }

  async runsLabelledImage(target: Target): Promise<boolean> {
    return target.imageId.endsWith(`@${target.meta.digest}`);
  }
}

/** Where the router reaches a node's tasks: the node's label dev.anew.address, else the address the manager sees. */
function nodeAddress(node: NodeJson): string {
  return node.Spec.Labels?.[NODE_ADDRESS_LABEL] || node.Status.Addr;
}

/** The distinct errors of a snapshot's tasks, newest first, one a line. */
function taskErrors(snap: Snapshot): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const t of [...snap.tasks].sort((a, b) => b.Status.Timestamp.localeCompare(a.Status.Timestamp))) {
    const err = t.Status.Err;
    if (!err || seen.has(err)) continue;
    seen.add(err);
    lines.push(`    task ${t.Slot ?? '?'} (${t.Status.State}): ${err}`);
  }
  return lines.slice(0, 5).join('\n');
}
