import type { LimitedApi } from './api.ts';

/** The fields of GitHub's deployment object anew reads. */
export interface Deployment {
  id: number;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  payload: unknown;
  creator: { login: string; type?: string } | null;
  created_at: string;
  transient_environment?: boolean;
  production_environment?: boolean;
}

export interface DeploymentStatus {
  id: number;
  state: string;
  log_url?: string;
  target_url?: string;
  environment_url?: string;
  created_at: string;
}

export type StatusState = 'in_progress' | 'success' | 'failure' | 'inactive';

/** What anew writes into a deployment's payload, under one key, to know its own again. */
export interface AnewPayload {
  app: string;
  release: string;
  digest: string;
  target: string;
  runId?: string;
  /** Set on the deployment a rollback made: the release that was replaced. */
  rollbackFrom?: string;
}

/** The login GitHub Actions writes as: the creator of the deployment a job's `environment:` makes. */
export const ACTIONS_BOT = 'github-actions[bot]';

/** The deployment's anew payload, when anew made it. */
export function anewPayload(d: Deployment): AnewPayload | undefined {
  let p = d.payload;
  if (typeof p === 'string') {
    try {
      p = JSON.parse(p);
    } catch {
      return undefined;
    }
  }
  const a = (p as { anew?: unknown } | null)?.anew as AnewPayload | undefined;
  return a && typeof a.release === 'string' && typeof a.digest === 'string' ? a : undefined;
}

export class Deployments {
  constructor(
    private readonly api: LimitedApi,
    /** owner/name */
    private readonly repository: string,
  ) {}

  private get repo(): { owner: string; repo: string } {
    const [owner, repo] = this.repository.split('/');
    return { owner: owner!, repo: repo! };
  }

  async create(input: {
    environment: string;
    sha: string;
    payload: AnewPayload;
    description: string;
    transient: boolean;
    production: boolean;
  }): Promise<Deployment> {
    const res = await this.api.request('POST /repos/{owner}/{repo}/deployments', {
      ...this.repo,
      ref: input.sha,
      task: 'deploy',
      environment: input.environment,
      payload: { anew: input.payload },
      description: clip(input.description),
      // The run that creates it is still going: its own checks are pending, and GitHub would refuse.
      required_contexts: [],
      auto_merge: false,
      transient_environment: input.transient,
      production_environment: input.production,
    });
    return res.data as Deployment;
  }

  async addStatus(
    id: number,
    state: StatusState,
    extra: { description?: string; environmentUrl?: string; logUrl?: string } = {},
  ): Promise<DeploymentStatus> {
    const res = await this.api.request('POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
      ...this.repo,
      deployment_id: id,
      state,
      ...(extra.description ? { description: clip(extra.description) } : {}),
      ...(extra.environmentUrl ? { environment_url: extra.environmentUrl } : {}),
      ...(extra.logUrl ? { log_url: extra.logUrl } : {}),
    });
    return res.data as DeploymentStatus;
  }

  async latestStatus(id: number): Promise<DeploymentStatus | undefined> {
    const res = await this.api.request('GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
      ...this.repo,
      deployment_id: id,
      per_page: 1,
    });
    return (res.data as DeploymentStatus[])[0];
  }

  /** Newest first, until `until` says stop. */
  list(
    filter: { environment: string; sha?: string },
    until?: (d: Deployment) => boolean,
  ): Promise<{ items: Deployment[]; complete: boolean }> {
    return this.api.list<Deployment>(
      'GET /repos/{owner}/{repo}/deployments',
      { ...this.repo, environment: filter.environment, ...(filter.sha ? { sha: filter.sha } : {}) },
      until,
    );
  }

  /**
   * The deployment GitHub made for this run's job, when the job declares
   * `environment:`: created by github-actions[bot] for that environment, with
   * a status whose log URL is this run (GitHub writes `…/actions/runs/<id>`, or
   * `…/runs/<id>/job/<job>`, as soon as the job starts, before any step runs).
   */
  async findJobDeployment(environment: string, runId: string): Promise<Deployment | undefined> {
    const candidates: Deployment[] = [];
    let seen = 0;
    await this.list({ environment }, (d) => {
      if (d.creator?.login === ACTIONS_BOT && !anewPayload(d)) candidates.push(d);
      // The run's deployment was made when its job was queued: among the newest, never deep in the history.
      return candidates.length >= 5 || ++seen >= 100;
    });
    const mark = `/actions/runs/${runId}/`;
    for (const d of candidates) {
      const res = await this.api.request('GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
        ...this.repo,
        deployment_id: d.id,
        per_page: 100,
      });
      const statuses = res.data as DeploymentStatus[];
      if (statuses.some((s) => `${s.log_url ?? s.target_url ?? ''}/`.includes(mark))) return d;
    }
    return undefined;
  }

  /** The newest deployment anew made for this release (of this commit) in this environment. */
  async findRelease(environment: string, release: string, sha: string): Promise<Deployment | undefined> {
    let found: Deployment | undefined;
    // The commit narrows the list to a few, however long the environment's history.
    await this.list({ environment, sha }, (d) => {
      if (anewPayload(d)?.release === release) found = d;
      return found !== undefined;
    });
    return found;
  }

  /**
   * Marks `inactive` the environment's deployments whose latest status is
   * one of `states` (success when a flip replaced them): GitHub's auto_inactive
   * leaves transient and production environments alone. Newest first; when
   * `settled` is set it stops at the first one already inactive, since every
   * earlier flip did the same and what lies behind it was settled then.
   */
  async inactivate(
    environment: string,
    options: {
      keep?: number;
      description: string;
      states: readonly string[];
      only?: (d: Deployment) => boolean;
      settled?: boolean;
    },
  ): Promise<number[]> {
    const done: number[] = [];
    const all = this.api.items<Deployment>('GET /repos/{owner}/{repo}/deployments', {
      ...this.repo,
      environment,
    });
    for await (const d of all) {
      if (d.id === options.keep || (options.only && !options.only(d))) continue;
      const latest = await this.latestStatus(d.id);
      if (latest?.state === 'inactive' && options.settled) break;
      if (latest && options.states.includes(latest.state)) {
        await this.addStatus(d.id, 'inactive', { description: options.description });
        done.push(d.id);
      }
    }
    return done;
  }
}

/** GitHub refuses a description over 140 characters. */
function clip(s: string): string {
  return s.length > 140 ? `${s.slice(0, 139)}…` : s;
}
