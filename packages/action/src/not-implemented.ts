import { UserError } from '@anew/core/errors';
import type { ActionDefinition } from './run.ts';
import type { ActionSpec } from './spec.ts';

/** Placeholder for an action whose issue has not landed yet; hidden from the CLI. */
export function notImplemented(spec: ActionSpec): ActionDefinition<void> {
  return {
    ...spec,
    hidden: true,
    parse() {},
    async main() {
      throw new UserError(
        `the ${spec.name} action is not implemented yet`,
        'Follow the project issues for its release',
      );
    },
  };
}
