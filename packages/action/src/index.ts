// The provenance policy reader is '@anew/action/policy': it loads Sigstore, which most actions never need at start-up.
export * as input from './inputs.ts';
export { notImplemented } from './not-implemented.ts';
export {
  type ActionContext,
  type ActionDefinition,
  actionsLogger,
  executeAction,
  type Outputs,
  runAction,
  SummaryBuilder,
} from './run.ts';
