export * as input from './inputs.ts';
export { notImplemented } from './not-implemented.ts';
export { readRegistryCredential, readVerifyPolicy } from './policy.ts';
export {
  type ActionContext,
  type ActionDefinition,
  actionsLogger,
  executeAction,
  type Outputs,
  runAction,
  SummaryBuilder,
} from './run.ts';
