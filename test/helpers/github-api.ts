/**
 * A stand-in for GitHub's REST API on loopback, for what anew's GitHub
 * records use: deployments and their statuses, and issue (pull request)
 * comments. It records every request and answers as GitHub does: the status
 * codes (201 on create, 200, 404, 401, 403 with GitHub's JSON error body and
 * `x-accepted-github-permissions`, 409 when required contexts are not green,
 * 422 on a bad state or a missing field), the object shapes (ids, node_id,
 * urls, creator, timestamps), list order (deployments and statuses newest
 * first, comments oldest first), pagination with `per_page` (default 30, at
 * most 100), `page` and a `Link` header, and auto_inactive, which leaves
 * transient and production environments alone.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface User {
  login: string;
  id: number;
  node_id: string;
  type: 'Bot' | 'User';
}

export const ACTIONS_BOT: User = {
  login: 'github-actions[bot]',
  id: 41898282,
  node_id: 'MDM6Qm90NDE4OTgyODI=',
  type: 'Bot',
};

export const HUMAN: User = { login: 'octocat', id: 583231, node_id: 'MDQ6VXNlcjU4MzIzMQ==', type: 'User' };

/** Fine-grained permissions of a token, as GitHub names them. */
export type Permission = 'deployments' | 'issues' | 'pull_requests';
export interface Token {
  user: User;
  write: Permission[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Body;
  status: number;
  authorization: string | undefined;
}

export interface StoredDeployment {
  url: string;
  id: number;
  node_id: string;
  sha: string;
  ref: string;
  task: string;
  payload: unknown;
  original_environment: string;
  environment: string;
  description: string | null;
  creator: ReturnType<typeof userObject>;
  created_at: string;
  updated_at: string;
  statuses_url: string;
  repository_url: string;
  transient_environment: boolean;
  production_environment: boolean;
  performed_via_github_app: null;
}

export interface StoredStatus {
  url: string;
  id: number;
  node_id: string;
  state: string;
  creator: ReturnType<typeof userObject>;
  description: string;
  environment: string;
  target_url: string;
  created_at: string;
  updated_at: string;
  deployment_url: string;
  repository_url: string;
  environment_url: string;
  log_url: string;
  performed_via_github_app: null;
}

export interface StoredComment {
  id: number;
  node_id: string;
  url: string;
  html_url: string;
  body: string;
  user: ReturnType<typeof userObject>;
  created_at: string;
  updated_at: string;
  issue_url: string;
  author_association: string;
  performed_via_github_app: null;
}

// biome-ignore lint/suspicious/noExplicitAny: a request body is whatever JSON the client sent
type Body = any;

const STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
const DOCS = 'https://docs.github.com/rest';

function userObject(u: User, api: string) {
  return {
    login: u.login,
    id: u.id,
    node_id: u.node_id,
    avatar_url: `https://avatars.githubusercontent.com/u/${u.id}?v=4`,
    gravatar_id: '',
    url: `${api}/users/${encodeURIComponent(u.login)}`,
    html_url: `https://github.com/${u.type === 'Bot' ? 'apps/github-actions' : u.login}`,
    type: u.type,
    site_admin: false,
  };
}

function nodeId(prefix: string, id: number): string {
  return Buffer.from(`${prefix}${id}`).toString('base64');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface GitHubApiOptions {
  /** owner/name of the one repository it serves. */
  repository?: string;
  /** Branch and tag names create accepts as `ref`, with their commit; a full sha is always accepted. */
  refs?: Record<string, string>;
  /** Tokens it knows; by default `job-token`: the Actions bot with every permission the records use. */
  tokens?: Record<string, Token>;
  /** Commits whose checks are still pending: a create without `required_contexts: []` gets 409. */
  pendingChecks?: string[];
  /** Open pull requests (numbers); comments on any other number are 404. */
  pullRequests?: number[];
}

export class GitHubApiStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly deployments: StoredDeployment[] = [];
  readonly statuses = new Map<number, StoredStatus[]>();
  readonly comments = new Map<number, StoredComment[]>();
  private nextId = 1000;
  private clock = Date.parse('2026-12-01T00:00:00Z');
  private server: http.Server | undefined;
  private faults: {
    method: string;
    path: RegExp;
    status: number;
    body: unknown;
    times: number;
    headers: Record<string, string>;
  }[] = [];
  url = '';
  readonly owner: string;
  readonly repo: string;
  readonly tokens: Record<string, Token>;
  readonly refs: Record<string, string>;
  readonly pendingChecks: Set<string>;
  readonly pullRequests: Set<number>;

  constructor(opts: GitHubApiOptions = {}) {
    [this.owner, this.repo] = (opts.repository ?? 'acme/web').split('/') as [string, string];
    this.tokens = opts.tokens ?? {
      'job-token': { user: ACTIONS_BOT, write: ['deployments', 'issues', 'pull_requests'] },
    };
    this.refs = opts.refs ?? {};
    this.pendingChecks = new Set(opts.pendingChecks ?? []);
    this.pullRequests = new Set(opts.pullRequests ?? []);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  /** The next `times` requests matching answer `status` with `body` (GitHub's shape by default). */
  fail(
    method: string,
    path: RegExp,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
    times = 1,
  ): void {
    this.faults.push({ method, path, status, body, times, headers });
  }

  /** Requests that changed something (anything but GET). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  statusesOf(id: number): StoredStatus[] {
    return this.statuses.get(id) ?? [];
  }

  /** What GitHub does when a job declares `environment:`: a deployment by the Actions bot, statuses linking the run. */
  seedJobDeployment(input: { environment: string; sha: string; ref: string; runId: string; jobId?: number }) {
    const d = this.createDeployment(ACTIONS_BOT, {
      ref: input.ref,
      sha: input.sha,
      environment: input.environment,
      task: 'deploy',
      payload: {},
      description: null,
      transient_environment: false,
      production_environment: false,
    });
    // GitHub links the run, or the job within it.
    const run = `https://github.com/${this.owner}/${this.repo}/actions/runs/${input.runId}`;
    const log = input.jobId ? `${run}/job/${input.jobId}` : run;
    this.createStatus(ACTIONS_BOT, d, { state: 'queued', log_url: log });
    this.createStatus(ACTIONS_BOT, d, { state: 'in_progress', log_url: log });
    return d;
  }

  private tick(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  private get api(): string {
    return this.url;
  }
  private get repoUrl(): string {
    return `${this.api}/repos/${this.owner}/${this.repo}`;
  }

  private handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const rec: RecordedRequest = {
      method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      body: undefined,
      status: 0,
      authorization: req.headers.authorization,
    };
    this.requests.push(rec);
    const send = (status: number, data: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      const text = data === undefined ? '' : JSON.stringify(data);
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-github-media-type': 'github.v3; format=json',
        'x-github-api-version-selected': '2022-11-28',
        'x-github-request-id': `SI:${this.requests.length}`,
        'x-ratelimit-limit': '1000',
        'x-ratelimit-remaining': '999',
        'content-length': String(Buffer.byteLength(text)),
        ...headers,
      });
      res.end(status === 204 ? undefined : text);
    };
    try {
      if (raw !== '') {
        try {
          rec.body = JSON.parse(raw);
        } catch {
          throw new HttpError(400, 'Problems parsing JSON');
        }
      }
      const fault = this.faults.find((f) => f.method === method && f.path.test(u.pathname) && f.times > 0);
      if (fault) {
        fault.times--;
        send(
          fault.status,
          fault.body ?? { message: 'Server Error', documentation_url: DOCS, status: String(fault.status) },
          fault.headers,
        );
        return;
      }
      const token = /^(?:token|bearer) (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const who = token ? this.tokens[token] : undefined;
      if (!who) throw new HttpError(401, 'Bad credentials');
      const out = this.route(method, u, rec.body ?? {}, who);
      send(out.status, out.data, out.headers);
    } catch (e) {
      if (!(e instanceof HttpError)) {
        send(500, { message: String(e), documentation_url: DOCS, status: '500' });
        return;
      }
      send(
        e.status,
        { message: e.message, ...e.extra, documentation_url: DOCS, status: String(e.status) },
        e.headers,
      );
    }
  }

  private need(who: Token, perms: Permission[], level: 'read' | 'write'): void {
    // The bundle of a write permission includes reading.
    if (level === 'read' || perms.some((p) => who.write.includes(p))) return;
    throw new HttpError(
      403,
      'Resource not accessible by integration',
      {},
      { 'x-accepted-github-permissions': perms.map((p) => `${p}=${level}`).join('; ') },
    );
  }

  private route(
    method: string,
    u: URL,
    body: Body,
    who: Token,
  ): { status: number; data: unknown; headers?: Record<string, string> } {
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)$/.exec(u.pathname);
    if (
      !m ||
      m[1]!.toLowerCase() !== this.owner.toLowerCase() ||
      m[2]!.toLowerCase() !== this.repo.toLowerCase()
    )
      throw new HttpError(404, 'Not Found');
    const rest = m[3]!;
    const dep = /^\/deployments\/(\d+)$/.exec(rest);
    const depStatuses = /^\/deployments\/(\d+)\/statuses$/.exec(rest);
    const issueComments = /^\/issues\/(\d+)\/comments$/.exec(rest);
    const oneComment = /^\/issues\/comments\/(\d+)$/.exec(rest);
    if (rest === '/deployments') {
      if (method === 'GET') {
        this.need(who, ['deployments'], 'read');
        const q = u.searchParams;
        const list = this.deployments
          .filter(
            (d) =>
              (!q.get('environment') || d.environment === q.get('environment')) &&
              (!q.get('sha') || d.sha === q.get('sha')) &&
              (!q.get('ref') || d.ref === q.get('ref')) &&
              (!q.get('task') || d.task === q.get('task')),
          )
          .sort((a, b) => b.id - a.id);
        return this.page(u, list);
      }
      if (method === 'POST') {
        this.need(who, ['deployments'], 'write');
        return { status: 201, data: this.postDeployment(who, body) };
      }
    }
    if (dep && method === 'GET') {
      this.need(who, ['deployments'], 'read');
      return { status: 200, data: this.deployment(Number(dep[1])) };
    }
    if (depStatuses) {
      const d = this.deployment(Number(depStatuses[1]));
      if (method === 'GET') {
        this.need(who, ['deployments'], 'read');
        return this.page(u, [...this.statusesOf(d.id)].reverse());
      }
      if (method === 'POST') {
        this.need(who, ['deployments'], 'write');
        if (!STATES.includes(body.state))
          throw new HttpError(422, 'Validation Failed', {
            errors: [
              {
                resource: 'DeploymentStatus',
                code: 'custom',
                field: 'state',
                message: 'state is not included in the list',
              },
            ],
          });
        if (typeof body.description === 'string' && body.description.length > 140)
          throw new HttpError(422, 'Validation Failed', {
            errors: [
              {
                resource: 'DeploymentStatus',
                code: 'custom',
                field: 'description',
                message: 'description is too long (maximum is 140 characters)',
              },
            ],
          });
        return { status: 201, data: this.createStatus(who.user, d, body) };
      }
    }
    if (issueComments) {
      const n = Number(issueComments[1]);
      if (!this.pullRequests.has(n)) throw new HttpError(404, 'Not Found');
      if (method === 'GET') {
        this.need(who, ['issues', 'pull_requests'], 'read');
        return this.page(u, this.comments.get(n) ?? []);
      }
      if (method === 'POST') {
        this.need(who, ['issues', 'pull_requests'], 'write');
        if (typeof body.body !== 'string' || body.body === '')
          throw new HttpError(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
        const id = this.nextId++;
        const at = this.tick();
        const c: StoredComment = {
          id,
          node_id: nodeId('012:IssueComment', id),
          url: `${this.repoUrl}/issues/comments/${id}`,
          html_url: `https://github.com/${this.owner}/${this.repo}/pull/${n}#issuecomment-${id}`,
          body: body.body,
          user: userObject(who.user, this.api),
          created_at: at,
          updated_at: at,
          issue_url: `${this.repoUrl}/issues/${n}`,
          author_association: who.user.type === 'Bot' ? 'NONE' : 'MEMBER',
          performed_via_github_app: null,
        };
        this.comments.set(n, [...(this.comments.get(n) ?? []), c]);
        return { status: 201, data: c };
      }
    }
    if (oneComment) {
      const id = Number(oneComment[1]);
      const [n, c] = this.comment(id);
      if (method === 'GET') return { status: 200, data: c };
      this.need(who, ['issues', 'pull_requests'], 'write');
      if (method === 'PATCH') {
        if (typeof body.body !== 'string')
          throw new HttpError(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
        c.body = body.body;
        c.updated_at = this.tick();
        return { status: 200, data: c };
      }
      if (method === 'DELETE') {
        this.comments.set(
          n,
          this.comments.get(n)!.filter((x) => x.id !== id),
        );
        return { status: 204, data: undefined };
      }
    }
    throw new HttpError(404, 'Not Found');
  }

  private comment(id: number): [number, StoredComment] {
    for (const [n, list] of this.comments) {
      const c = list.find((x) => x.id === id);
      if (c) return [n, c];
    }
    throw new HttpError(404, 'Not Found');
  }

  private deployment(id: number): StoredDeployment {
    const d = this.deployments.find((x) => x.id === id);
    if (!d) throw new HttpError(404, 'Not Found');
    return d;
  }

  /** `per_page` (default 30, at most 100) and `page`, with GitHub's Link header keeping the other parameters. */
  private page(u: URL, all: unknown[]): { status: number; data: unknown; headers: Record<string, string> } {
    const per = Math.min(100, Math.max(1, Number(u.searchParams.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(u.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(all.length / per));
    const at = (n: number) => {
      const l = new URL(u.pathname + u.search, this.url);
      l.searchParams.set('per_page', String(per));
      l.searchParams.set('page', String(n));
      return l.href;
    };
    const links: string[] = [];
    if (page > 1) links.push(`<${at(page - 1)}>; rel="prev"`);
    if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`);
    if (page > 1) links.push(`<${at(1)}>; rel="first"`);
    return {
      status: 200,
      data: all.slice((page - 1) * per, page * per),
      headers: links.length > 0 ? { link: links.join(', ') } : {},
    };
  }

  private postDeployment(who: Token, body: Body): StoredDeployment {
    if (typeof body.ref !== 'string' || body.ref === '')
      throw new HttpError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.');
    const sha = /^[0-9a-f]{40}$/.test(body.ref) ? body.ref : this.refs[body.ref];
    if (!sha) throw new HttpError(422, `No ref found for: ${body.ref}`);
    if (!Array.isArray(body.required_contexts) && this.pendingChecks.has(sha))
      throw new HttpError(409, `Conflict: Commit status checks failed for ${body.ref}.`, {
        errors: [
          {
            contexts: [{ context: 'ci', state: 'pending' }],
            resource: 'Deployment',
            field: 'required_contexts',
            code: 'invalid',
          },
        ],
      });
    const environment = typeof body.environment === 'string' ? body.environment : 'production';
    return this.createDeployment(who.user, {
      ref: body.ref,
      sha,
      environment,
      task: body.task ?? 'deploy',
      payload: typeof body.payload === 'string' ? JSON.parse(body.payload || '{}') : (body.payload ?? {}),
      description: body.description ?? null,
      transient_environment: body.transient_environment === true,
      production_environment: body.production_environment ?? environment === 'production',
    });
  }

  private createDeployment(
    user: User,
    f: Pick<
      StoredDeployment,
      | 'ref'
      | 'sha'
      | 'environment'
      | 'task'
      | 'payload'
      | 'description'
      | 'transient_environment'
      | 'production_environment'
    >,
  ): StoredDeployment {
    const id = this.nextId++;
    const at = this.tick();
    const d: StoredDeployment = {
      url: `${this.repoUrl}/deployments/${id}`,
      id,
      node_id: nodeId('010:Deployment', id),
      sha: f.sha,
      ref: f.ref,
      task: f.task,
      payload: f.payload,
      original_environment: f.environment,
      environment: f.environment,
      description: f.description,
      creator: userObject(user, this.api),
      created_at: at,
      updated_at: at,
      statuses_url: `${this.repoUrl}/deployments/${id}/statuses`,
      repository_url: this.repoUrl,
      transient_environment: f.transient_environment,
      production_environment: f.production_environment,
      performed_via_github_app: null,
    };
    this.deployments.push(d);
    return d;
  }

  private createStatus(user: User, d: StoredDeployment, body: Body): StoredStatus {
    const id = this.nextId++;
    const at = this.tick();
    const log = body.log_url ?? body.target_url ?? '';
    const s: StoredStatus = {
      url: `${d.url}/statuses/${id}`,
      id,
      node_id: nodeId('016:DeploymentStatus', id),
      state: body.state,
      creator: userObject(user, this.api),
      description: body.description ?? '',
      environment: body.environment ?? d.environment,
      target_url: log,
      created_at: at,
      updated_at: at,
      deployment_url: d.url,
      repository_url: this.repoUrl,
      environment_url: body.environment_url ?? '',
      log_url: log,
      performed_via_github_app: null,
    };
    this.statuses.set(d.id, [...this.statusesOf(d.id), s]);
    d.updated_at = at;
    // auto_inactive: earlier successful deployments of the same environment, unless transient or production.
    if (body.state === 'success' && body.auto_inactive !== false)
      for (const o of this.deployments)
        if (
          o.id < d.id &&
          o.environment === d.environment &&
          !o.transient_environment &&
          !o.production_environment &&
          this.statusesOf(o.id).at(-1)?.state === 'success'
        )
          this.createStatus(user, o, { state: 'inactive', auto_inactive: false });
    return s;
  }
}

export async function startGitHubApi(opts: GitHubApiOptions = {}): Promise<GitHubApiStandIn> {
  return new GitHubApiStandIn(opts).start();
}
