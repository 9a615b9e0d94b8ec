// The provenance policy reader is '@anew/action/policy': it loads Sigstore, which most actions never need at start-up.
export { appInputs, dryRunInput, githubTokenInput, policyInputs, registryInputs } from './common.ts';
export { notImplemented } from './not-implemented.ts';
export {
  InputReader,
  type InputSource,
  parseBool,
  type RawInputs,
  runnerInputs,
  runnerSource,
} from './reader.ts';
export {
  type ActionContext,
  type ActionDefinition,
  actionsLogger,
  executeAction,
  jobDir,
  type Outputs,
  type OutputValue,
  outputText,
  runAction,
  SummaryBuilder,
} from './run.ts';
export {
  type ActionSpec,
  type InputSpec,
  type InputSpecs,
  omitInputs,
  settingGroup,
  settingInputs,
} from './spec.ts';
export { getState } from './workflow-commands.ts';
