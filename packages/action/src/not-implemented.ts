import { UserError } from '@anew/core/errors';
import type { ActionDefinition } from './run.ts';

/** Placeholder for an action whose issue has not landed yet. */
export function notImplemented(name: string): ActionDefinition<void> {
  return {
    name,
    readInputs() {},
    async main() {
      throw new UserError(
        `the ${name} action is not implemented yet`,
        'Follow the project issues for its release',
      );
    },
  };
}
