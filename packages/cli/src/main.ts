import { errorMessage, isUserError } from '@anew/core/errors';
import { ConsoleLogger } from '@anew/core/log';
import pkg from '../../../package.json' with { type: 'json' };
import type { Command } from './commands/shared.ts';
import { closest, isUsageError } from './flags.ts';

interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
  /** Not listed, not run: an action whose issue has not landed yet. */
  hidden?: boolean;
}

/** A command that is an action run from the command line (its inputs as options). */
function viaAction(
  // biome-ignore lint/suspicious/noExplicitAny: each action has its own input and output types
  load: () => Promise<{ default: import('@anew/action').ActionDefinition<any, any> }>,
): () => Promise<Command> {
  return async () => (await import('./commands/action.ts')).actionCommand(load);
}

/** One entry per command; each is loaded only when run, so start-up stays quick. */
const commands: Record<string, CommandEntry> = {
  build: {
    summary: 'build a content-addressed image and push it',
    load: viaAction(() => import('../../../actions/build/src/main.ts')),
  },
  attest: {
    summary: 'sign SLSA provenance for an image digest and attach it',
    load: viaAction(() => import('../../../actions/attest/src/main.ts')),
  },
  verify: {
    summary: "check an image's provenance against a policy",
    load: viaAction(() => import('../../../actions/verify/src/main.ts')),
  },
  deploy: {
    summary: 'start a new target from an image digest',
    load: viaAction(() => import('../../../actions/deploy/src/main.ts')),
  },
  flip: {
    summary: "move an environment's traffic to a target",
    load: viaAction(() => import('../../../actions/flip/src/main.ts')),
  },
  rollback: {
    summary: 'move traffic back to the previous target',
    load: viaAction(() => import('../../../actions/rollback/src/main.ts')),
  },
  status: {
    summary: "list each environment's live release, warm targets and drift",
    load: async () => (await import('./commands/status.ts')).default,
  },
  promote: {
    summary: 'copy an image with its provenance to another repository',
    load: viaAction(() => import('../../../actions/promote/src/main.ts')),
  },
  cleanup: {
    summary: 'retire old targets and previews',
    load: viaAction(() => import('../../../actions/cleanup/src/main.ts')),
  },
  ship: {
    summary: 'build, attest, deploy and flip in one step',
    load: viaAction(() => import('../../../actions/ship/src/main.ts')),
  },
};

const visible = Object.entries(commands).filter(([, c]) => !c.hidden);

const USAGE = `anew — immutable deployments from a terminal or any CI

Usage: anew <command> [options]

Commands:
${visible.map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}

Examples:
  anew ship --image ghcr.io/acme/web --environment staging --dry-run
  anew deploy --image ghcr.io/acme/web@sha256:… --environment production
  anew flip --environment production --target anew-web-production-…
  anew rollback --environment production

Run "anew <command> --help" for its options; "anew --version" for the version.
Exit codes: 0 done, 1 failed, 2 usage error (status: 3 drift found).`;

/** Runs the anew command line; returns the exit code. */
export async function cli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    process.stdout.write(`anew ${pkg.version}\n`);
    return 0;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!name) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const entry = commands[name];
  if (!entry || entry.hidden) {
    const near = closest(
      name,
      visible.map(([n]) => n),
    );
    process.stderr.write(
      `anew: unknown command "${name}".${near ? ` Did you mean "${near}"?` : ''} Run "anew --help" for the list.\n`,
    );
    return 2;
  }
  const log = new ConsoleLogger();
  try {
    return await (await entry.load())(rest, log);
  } catch (e) {
    log.error(`anew ${name}: ${errorMessage(e)}`);
    if (!isUserError(e) && e instanceof Error && e.stack) log.debug(e.stack);
    return isUsageError(e) ? 2 : 1;
  }
}
