import { errorMessage, isUserError } from '@anew/core/errors';
import { ConsoleLogger } from '@anew/core/log';
import type { Command } from './commands/shared.ts';

/** Commands that are an action run from the command line (its inputs as options). */
async function viaAction(
  name: string,
  load: Parameters<typeof import('./commands/action.ts').actionCommand>[1],
) {
  const { actionCommand } = await import('./commands/action.ts');
  return { default: actionCommand(name, load) };
}

const USAGE = `anew — immutable deployments from a terminal or any CI

Usage: anew <command> [options]

Commands:
  build      build a content-addressed image and push it
  attest     sign SLSA provenance for an image digest and attach it
  verify     check an image's provenance against a policy
  deploy     start a new target from an image digest
  flip       move an environment's traffic to a target
  rollback   move traffic back to the previous target
  status     list each environment's live release, warm targets and drift
  promote    copy an image with its provenance to another repository
  cleanup    retire old targets and previews
  ship       build, attest, deploy and flip in one step

Run "anew <command> --help" for its options.`;

/** One entry per command; each module's default export runs it (loaded lazily, so start-up stays quick). */
const commands: Record<string, () => Promise<{ default: Command }>> = {
  build: () => viaAction('build', () => import('../../../actions/build/src/main.ts')),
  attest: () => viaAction('attest', () => import('../../../actions/attest/src/main.ts')),
  verify: () => viaAction('verify', () => import('../../../actions/verify/src/main.ts')),
  deploy: () => viaAction('deploy', () => import('../../../actions/deploy/src/main.ts')),
  flip: () => viaAction('flip', () => import('../../../actions/flip/src/main.ts')),
  rollback: () => viaAction('rollback', () => import('../../../actions/rollback/src/main.ts')),
  cleanup: () => viaAction('cleanup', () => import('../../../actions/cleanup/src/main.ts')),
  ship: () => viaAction('ship', () => import('../../../actions/ship/src/main.ts')),
  status: () => import('./commands/status.ts'),
};

/** Runs the anew command line; returns the exit code. */
export async function cli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`anew: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  const log = new ConsoleLogger();
  try {
    return await (await load()).default(rest, log);
  } catch (e) {
    log.error(`anew ${name}: ${errorMessage(e)}`);
    if (!isUserError(e) && e instanceof Error && e.stack) log.debug(e.stack);
    return 1;
  }
}
