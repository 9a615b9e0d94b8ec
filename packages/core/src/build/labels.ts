import { type RunContext, repositoryUrl } from '../github/index.ts';

/**
 * The OCI labels that tie an image to its source: the repository and the
 * commit it was built from, when the run knows them. The user's labels win.
 */
export function imageLabels(ctx: RunContext, user: Record<string, string>): Record<string, string> {
  const labels: Record<string, string> = {};
  const source = repositoryUrl(ctx);
  if (source) labels['org.opencontainers.image.source'] = source;
  if (ctx.sha) labels[REVISION] = ctx.sha;
  return { ...labels, ...user };
}

const REVISION = 'org.opencontainers.image.revision';

/**
 * The labels imageLabels takes from the run rather than from the user: they
 * say from which commit, not what is built, so the inputs-digest leaves them
 * out (see BuildRequest.incidental).
 */
export function runDerivedLabels(ctx: RunContext, user: Record<string, string>): string[] {
  return ctx.sha && !(REVISION in user) ? [REVISION] : [];
}
