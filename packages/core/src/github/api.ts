/**
 * The smallest client of GitHub's REST API the core needs. Octokit's
 * `request` satisfies it, so the actions adapter passes `getOctokit(token)`
 * (which honours GITHUB_API_URL, for GitHub Enterprise Server) and the core
 * never imports @actions/*. Routes and params follow Octokit's conventions:
 * `{placeholders}` filled from params, the rest as query or body, and
 * `request.signal` an AbortSignal that ends the request.
 */
export interface GitHubApi {
  request(
    route: string,
    params?: Record<string, unknown>,
  ): Promise<{ status: number; data: unknown; headers: Record<string, string | number | undefined> }>;
}

/** What every call may read, at most: a few MiB and an overall deadline. */
export interface ApiLimits {
  /** Response bytes read over the whole life of a client (default 4 MiB). */
  maxBytes: number;
  /** Milliseconds from the client's creation after which no request starts (default 60 s). */
  deadlineMs: number;
  /** Pages followed for one list (default 20). */
  maxPages: number;
}

export const DEFAULT_LIMITS: ApiLimits = { maxBytes: 4 * 1024 * 1024, deadlineMs: 60_000, maxPages: 20 };

/** A request GitHub answered with an error status, or one anew stopped (deadline, size). */
export class GitHubApiError extends Error {
  override name = 'GitHubApiError';
  constructor(
    message: string,
    readonly status: number,
    /** The permissions GitHub says the call needs (`x-accepted-github-permissions`), as workflow keys. */
    readonly accepted: string[],
    /** GitHub's own message: not trusted, log it only through the logger. */
    readonly apiMessage: string | undefined,
    /** A 403 or 429 of the rate limit (primary or secondary), not of permissions. */
    readonly rateLimited = false,
  ) {
    super(message);
  }
}

/**
 * `issues=write; pull_requests=write` (one alternative per `;`, the fine-grained
 * names) as the keys a workflow's `permissions:` takes: `issues: write`, `pull-requests: write`.
 */
export function acceptedPermissions(header: unknown): string[] {
  if (typeof header !== 'string') return [];
  return header
    .split(';')
    .map((set) =>
      set
        .split(',')
        .map((p) => p.trim())
        .filter((p) => /^[a-z_]+=[a-z]+$/.test(p))
        .map((p) => {
          const [name, level] = p.split('=');
          return `${name!.replace(/_/g, '-')}: ${level}`;
        })
        .join(', '),
    )
    .filter((s) => s !== '');
}

/** Text from the API is data: one line, no control characters, short. */
export function untrusted(text: unknown, max = 200): string | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** The params of a `Link: <…>; rel="next"` URL, or undefined at the last page. */
export function nextPageParams(link: unknown): Record<string, string> | undefined {
  if (typeof link !== 'string') return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]+)>\s*;\s*rel="?next"?\s*$/.exec(part);
    if (!m) continue;
    try {
      return Object.fromEntries(new URL(m[1]!, 'http://x/').searchParams);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The API with the limits applied: every request carries what is left of
 * the deadline as its abort signal, and the bytes read are counted.
 */
export class LimitedApi {
  private readonly deadline: number;
  private bytes = 0;
  readonly limits: ApiLimits;
  constructor(
    private readonly api: GitHubApi,
    limits: Partial<ApiLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.deadline = Date.now() + this.limits.deadlineMs;
  }

  async request(
    route: string,
    params: Record<string, unknown> = {},
  ): Promise<{ data: unknown; headers: Record<string, unknown> }> {
    const left = this.deadline - Date.now();
    if (left <= 0)
      throw new GitHubApiError(
        `${route}: not sent, the ${this.limits.deadlineMs / 1000} s allowed for GitHub records ran out`,
        0,
        [],
        undefined,
      );
    if (this.bytes > this.limits.maxBytes)
      throw new GitHubApiError(
        `${route}: not sent, ${this.limits.maxBytes} bytes already read from the API`,
        0,
        [],
        undefined,
      );
    let res: Awaited<ReturnType<GitHubApi['request']>>;
    try {
      res = await this.api.request(route, { ...params, request: { signal: AbortSignal.timeout(left) } });
    } catch (e) {
      throw asApiError(route, e);
    }
    const length = Number(res.headers['content-length']);
    this.bytes += Number.isFinite(length) ? length : JSON.stringify(res.data ?? '').length;
    return { data: res.data, headers: res.headers };
  }

  /**
   * The items of a list, page by page while GitHub's Link header has a
   * `next`, read only as far as the caller goes. The next page is asked for
   * through the same route (its query taken from the link), so a Link
   * header can never send the token to another host. Returns whether the
   * list ended (rather than the page limit).
   */
  async *items<T>(route: string, params: Record<string, unknown>): AsyncGenerator<T, boolean> {
    let query: Record<string, unknown> = { per_page: 100, ...params };
    for (let page = 0; page < this.limits.maxPages; page++) {
      const res = await this.request(route, query);
      if (!Array.isArray(res.data)) throw new GitHubApiError(`${route}: the answer is not a list`, 0, [], '');
      for (const item of res.data as T[]) yield item;
      const next = nextPageParams(res.headers['link']);
      if (!next) return true;
      query = { ...params, ...next };
    }
    return false;
  }

  /** Every item of a list, or those up to the first for which `until` says stop. */
  async list<T>(
    route: string,
    params: Record<string, unknown>,
    until?: (item: T) => boolean,
  ): Promise<{ items: T[]; complete: boolean }> {
    const items: T[] = [];
    const it = this.items<T>(route, params);
    for (;;) {
      const n = await it.next();
      if (n.done) return { items, complete: n.value };
      items.push(n.value);
      if (until?.(n.value)) {
        await it.return(true);
        return { items, complete: true };
      }
    }
  }
}

function asApiError(route: string, e: unknown): GitHubApiError {
  if (e instanceof GitHubApiError) return e;
  const err = e as {
    status?: unknown;
    name?: unknown;
    message?: unknown;
    response?: { headers?: Record<string, unknown>; data?: { message?: unknown } };
  };
  const status = typeof err.status === 'number' ? err.status : 0;
  const headers = err.response?.headers ?? {};
  const apiMessage = untrusted(err.response?.data?.message ?? (status === 0 ? err.message : undefined));
  const what =
    err.name === 'AbortError' || err.name === 'TimeoutError'
      ? 'timed out'
      : status === 0
        ? 'could not reach the API'
        : `HTTP ${status}`;
  const rateLimited =
    (status === 403 || status === 429) &&
    (String(headers['x-ratelimit-remaining']) === '0' || headers['retry-after'] !== undefined);
  return new GitHubApiError(
    `${route}: ${rateLimited ? 'rate limited' : what}`,
    status,
    acceptedPermissions(headers['x-accepted-github-permissions']),
    apiMessage,
    rateLimited,
  );
}
