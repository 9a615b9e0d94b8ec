import { type ActionDefinition, InputReader, type InputSource, jobDir, SummaryBuilder } from '@anew/action';
import { isUserError } from '@anew/core/errors';
import type { ConsoleLogger } from '@anew/core/log';
import { parseFlags, UsageError } from '../flags.ts';
import { actionHelp } from '../help.ts';
import { type Command, printOutputs } from './shared.ts';

/** Inputs named as a terminal user types them (or as the variable they came from). */
function cliSource(command: string, log: ConsoleLogger, fromEnv: Record<string, string>): InputSource {
  const name = (k: string) => (fromEnv[k] ? `$${fromEnv[k]}` : `--${k}`);
  return {
    name,
    short: name,
    missingHint: () => `See anew ${command} --help`,
    mask: (s) => log.setSecret(s),
    notice: (m) => log.info(m),
    commandLine: true,
  };
}

/**
 * A command that runs an action's own definition with its inputs from the
 * command line: the same declaration, parsing, checks and core calls as in a
 * workflow; only the reader differs. A mistake in the inputs exits 2 before
 * anything is done; a failure of the work exits 1.
 */
export function actionCommand(
  // biome-ignore lint/suspicious/noExplicitAny: each action has its own input and output types
  load: () => Promise<{ default: ActionDefinition<any, any> }>,
): Command {
  return async (args, log) => {
    const def = (await load()).default;
    const { raw, help, json, exposed, fromEnv } = parseFlags(args, def.inputs);
    if (help) {
      process.stdout.write(`${actionHelp(def, help === 'all')}\n`);
      return 0;
    }
    for (const k of exposed)
      log.warning(
        `--${k} on the command line is visible to anyone who lists processes: prefer --${k}-stdin, --${k}-file${def.inputs[k]!.env ? ` or $${def.inputs[k]!.env}` : ''}`,
      );
    let inputs: unknown;
    try {
      inputs = def.parse(new InputReader(def.inputs, raw, cliSource(def.name, log, fromEnv)));
    } catch (e) {
      if (isUserError(e)) throw new UsageError((e as Error).message, undefined, { cause: e });
      throw e;
    }
    const outputs = await def.main(inputs, { log, summary: new SummaryBuilder(), jobDir: jobDir() });
    printOutputs(outputs, json);
    return 0;
  };
}
