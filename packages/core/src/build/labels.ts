import { type RunContext, repositoryUrl } from '../github/index.ts';

/**
 * The OCI labels that tie an image to its source: the repository and the
 * commit it was built from, when the run knows them. The user's labels win.
 */
export function imageLabels(ctx: RunContext, user: Record<string, string>): Record<string, string> {
  const labels: Record<string, string> = {};
  const source = repositoryUrl(ctx);
  if (source) labels['org.opencontainers.image.source'] = source;
  if (ctx.sha) labels['org.opencontainers.image.revision'] = ctx.sha;
  return { ...labels, ...user };
}
