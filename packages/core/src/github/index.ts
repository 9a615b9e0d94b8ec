// GitHub, seen from the core: the run context, and the records of a release (deployments, the preview comment)
// written through a minimal REST client that the front-ends provide.
export * from './api.ts';
export * from './context.ts';
export * from './deployments.ts';
export * from './pr-comment.ts';
export * from './records.ts';
