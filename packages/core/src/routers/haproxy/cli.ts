import { UserError } from '../../errors/index.ts';
import type { AdminTransport } from '../admin-transport.ts';

/**
 * HAProxy's master CLI: one command per connection (the socket answers and
 * closes). `@1 <command>` is relayed to the current worker's runtime API at
 * admin level; bare commands (`show proc`, `reload`) are the master's.
 */
export class MasterCli {
  constructor(readonly transport: AdminTransport) {}

  async master(command: string, timeoutMs = 15_000): Promise<string> {
    const socket = await this.transport.connect().catch((e: Error) => {
      throw new UserError(
        `HAProxy's master CLI at ${this.transport.url} did not answer (${e.message})`,
        'Check router-url, and that HAProxy runs in master-worker mode (-W) with its master socket there (-S)',
      );
    });
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(
        () => socket.destroy(new Error(`no answer to "${command}" within ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      socket.end(`${command}\n`);
    });
  }

  /** A runtime API command on the current worker. */
  worker(command: string): Promise<string> {
    return this.master(`@1 ${command}`);
  }

  async serversState(backend?: string): Promise<ServerState[]> {
    const out = await this.worker(`show servers state${backend ? ` ${backend}` : ''}`);
    if (/Can't find backend/i.test(out)) return [];
    return parseServersState(out);
  }

  async backendExists(backend: string): Promise<boolean> {
    const out = await this.worker('show backend');
    return out.split('\n').some((l) => l.trim() === backend);
  }

  /** The master's reload count (and failed reloads), from `show proc`. */
  async reloads(): Promise<{ reloads: number; failed: number; worker: number | undefined }> {
    const out = await this.master('show proc');
    const m = /^\d+\s+master\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?/m.exec(out);
    if (!m) throw new Error(`unexpected answer of HAProxy's show proc: ${out.slice(0, 200)}`);
    const afterWorkers = out.split('# workers')[1] ?? '';
    const w = /^(\d+)\s+worker\s+0\s/m.exec(afterWorkers.split('#')[0] ?? '');
    return { reloads: Number(m[1]), failed: Number(m[2] ?? 0), worker: w ? Number(w[1]) : undefined };
  }
}

export interface ServerState {
  backend: string;
  name: string;
  /** host:port as HAProxy dials it. */
  dial: string;
  /** 0 stopped, 2 running (srv_op_state). */
  op: number;
  /** Bit field: maintenance (0x01 forced, 0x02 inherited, 0x04 config, 0x20 resolution, 0x40 hostname), drain (0x08, 0x10). */
  admin: number;
  weight: number;
}

export const MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
export const DRAIN = 0x08 | 0x10;

/** The lines of `show servers state` (format version 1). */
export function parseServersState(out: string): ServerState[] {
  const rows: ServerState[] = [];
  for (const line of out.split('\n')) {
    if (!/^\d+ /.test(line)) continue;
    const f = line.split(' ');
    // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight … srv_port (index 18)
    rows.push({
      backend: f[1]!,
      name: f[3]!,
      dial: `${f[4]!.includes(':') ? `[${f[4]}]` : f[4]}:${f[18]}`,
      op: Number(f[5]),
      admin: Number(f[6]),
      weight: Number(f[7]),
    });
  }
  return rows;
}

/** Servers that take new requests. */
export function serving(s: ServerState): boolean {
  return (s.admin & (MAINT | DRAIN)) === 0 && s.weight > 0;
}
