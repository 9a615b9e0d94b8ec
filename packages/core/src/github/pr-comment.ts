import { GitHubApiError, type LimitedApi } from './api.ts';

/** What the sticky comment of a preview says. */
export interface PreviewComment {
  app: string;
  environment: string;
  pullRequest: number;
  /** The address users reach (flip's `url`). */
  url?: string;
  digest: string;
  commit?: string;
  /** The provenance gate's result in a few words, e.g. `verified` or `not required`. */
  provenance?: string;
  /** A rollback put `digest` back: the digest that served until then. */
  rolledBackFrom?: string;
  /** The preview was removed (the pull request closed). */
  removed?: boolean;
  /** When it happened; now by default. */
  time?: Date;
}

interface IssueComment {
  id: number;
  body?: string;
  user: { login: string; type?: string } | null;
}

/** The hidden first line that finds the comment again: one per pull request, app and environment. */
export function commentMarker(app: string, environment: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return `<!-- anew:preview app=${safe(app)} env=${safe(environment)} -->`;
}

/** Inline code that Markdown cannot break out of. */
function code(s: string): string {
  return `\`${s.replace(/[`\r\n|<>]/g, '')}\``;
}

/** Only http(s) addresses become links. */
function link(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    const text = u.href.replace(/[\]\r\n|<>]/g, '');
    return `[${text}](${text.replace(/[()]/g, encodeURIComponent)})`;
  } catch {
    return undefined;
  }
}

export function commentBody(c: PreviewComment): string {
  const time = (c.time ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const rows: [string, string | undefined][] = c.removed
    ? [
        ['Status', 'removed'],
        ['Last digest', code(c.digest)],
        ['Removed at', time],
      ]
    : [
        ['URL', link(c.url)],
        ['Digest', code(c.digest)],
        ['Rolled back', c.rolledBackFrom ? `from ${code(c.rolledBackFrom)} to ${code(c.digest)}` : undefined],
        ['Commit', c.commit ? code(c.commit) : undefined],
        ['Provenance', c.provenance ? code(c.provenance) : undefined],
        ['Updated', time],
      ];
  const title = c.removed
    ? `### Preview ${code(c.environment)} of ${code(c.app)} was removed`
    : `### Preview ${code(c.environment)} of ${code(c.app)}${c.rolledBackFrom ? ' (rolled back)' : ''}`;
  return [
    commentMarker(c.app, c.environment),
    title,
    '',
    '| | |',
    '|---|---|',
    ...rows.filter((r) => r[1] !== undefined).map(([k, v]) => `| ${k} | ${v} |`),
    '',
  ].join('\n');
}

export interface CommentResult {
  id: number;
  action: 'created' | 'updated';
}

/**
 * Writes the one sticky comment of this preview: updates the comment that
 * starts with the marker, or creates it once. A comment only counts when a
 * bot wrote it (the Actions token writes as github-actions[bot]) or `author`
 * did: a marker pasted by someone else is never edited. Reads every page of
 * the pull request's comments first, so a long discussion cannot hide it.
 */
export async function upsertComment(
  api: LimitedApi,
  repository: string,
  c: PreviewComment,
  author?: string,
): Promise<CommentResult> {
  const [owner, repo] = repository.split('/');
  const marker = commentMarker(c.app, c.environment);
  const ours = (x: IssueComment) =>
    (x.body ?? '').startsWith(marker) &&
    (x.user?.type === 'Bot' || (author !== undefined && x.user?.login === author));
  const find = async () => {
    const { items, complete } = await api.list<IssueComment>(
      'GET /repos/{owner}/{repo}/issues/{issue_number}/comments',
      { owner, repo, issue_number: c.pullRequest },
    );
    return { found: items.filter(ours).sort((a, b) => a.id - b.id), complete };
  };
  const body = commentBody(c);
  const { found, complete } = await find();
  if (found[0]) {
    await api.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
      owner,
      repo,
      comment_id: found[0].id,
      body,
    });
    return { id: found[0].id, action: 'updated' };
  }
  if (!complete)
    throw new GitHubApiError(
      `pull request #${c.pullRequest} has more comments than anew reads (${api.limits.maxPages} pages)`,
      0,
      [],
      undefined,
    );
  const created = await api.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    owner,
    repo,
    issue_number: c.pullRequest,
    body,
  });
  const id = (created.data as IssueComment).id;
  // Two runs of one pull request at once can both find none and both create: the oldest stays.
  const again = await find();
  const first = again.found[0];
  if (first && first.id !== id) {
    await api.request('DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}', {
      owner,
      repo,
      comment_id: id,
    });
    await api.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
      owner,
      repo,
      comment_id: first.id,
      body,
    });
    return { id: first.id, action: 'updated' };
  }
  return { id, action: 'created' };
}
