import { SWARM_MAX_REPLICAS } from '../../config/load.ts';
import { UserError } from '../../errors/index.ts';

/**
 * Host ports of a Swarm release. With host networking every task of every
 * service shares its node's ports, and a rescheduled task may land on any
 * node, so each release gets a block of ports of its own, the same on every
 * node. A service template cannot add numbers, only join strings, so a
 * task's port is the block's prefix followed by its slot:
 * `PORT=<block>{{.Task.Slot}}`. Blocks 1000–1999 give ports 10001–19999
 * (slot 1–9): below Linux's ephemeral range, and apart from the Docker
 * driver's 20000–29999. A slot has one digit, so a release has at most 9 tasks.
 */
export const SWARM_PORT_BLOCKS = { min: 1000, max: 1999 } as const;
export { SWARM_MAX_REPLICAS };

/** The PORT value of the service template. */
export function portTemplate(block: number): string {
  return `${block}{{.Task.Slot}}`;
}

/** What the template gives the task in `slot`. */
export function portOf(block: number, slot: number): number {
  return Number(`${block}${slot}`);
}

export function checkReplicas(replicas: number): void {
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > SWARM_MAX_REPLICAS)
    throw new UserError(
      `replicas is ${replicas}, but a Swarm release holds 1 to ${SWARM_MAX_REPLICAS} tasks (each takes the port <block><slot>, with a one-digit slot)`,
      `Use replicas from 1 to ${SWARM_MAX_REPLICAS}`,
    );
}

/** The block's prefix from a service's label; undefined when it is not one. */
export function parseBlock(label: string | undefined): number | undefined {
  const n = Number(label);
  return Number.isInteger(n) && n >= SWARM_PORT_BLOCKS.min && n <= SWARM_PORT_BLOCKS.max ? n : undefined;
}
