import { errorMessage, UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { type ApiLimits, type GitHubApi, GitHubApiError, LimitedApi } from './api.ts';
import { type RunContext, runUrl } from './context.ts';
import { type AnewPayload, anewPayload, type Deployment, Deployments } from './deployments.ts';
import { type PreviewComment, upsertComment } from './pr-comment.ts';

/** A release as GitHub records it. */
export interface ReleaseRecord {
  app: string;
  environment: string;
  release: string;
  digest: string;
  target: string;
  /** The commit the release was built from; GITHUB_SHA when unknown. */
  commit?: string;
  /** A preview: GitHub shows it as destroyed once inactive. Default: the environment is `pr-<n>`. */
  transient?: boolean;
  /** Default: the environment is `production`. */
  production?: boolean;
}

export interface RecordsOptions {
  /** undefined without a token: every record is skipped, with one line that says so. */
  api: GitHubApi | undefined;
  run: RunContext;
  log: Logger;
  /**
   * Records an input asked for by name: when they cannot be written
   * (no token, a 403, an error) the step fails instead of warning.
   */
  required?: { deployment?: boolean; comment?: boolean };
  limits?: Partial<ApiLimits>;
  /** The login the token writes comments as, when it is not a bot (a personal token). */
  commentAuthor?: string;
}

type Kind = 'deployment' | 'comment';
/** The `permissions:` a job gives for each record, the documented one first. */
const NEEDS: Record<Kind, string[]> = {
  deployment: ['deployments: write'],
  comment: ['pull-requests: write', 'issues: write'],
};

/**
 * The GitHub side of a release: its Deployment and statuses, and the sticky
 * comment of a pull-request preview. The actions call one method per event
 * (deploy → started, flip → live, a failure → failed, rollback →
 * rolledBack, cleanup → retired, a preview → comment). Every method returns
 * instead of throwing unless the record was required; `notes` holds lines
 * for the job summary, made only of anew's own words.
 */
export class GitHubRecords {
  readonly notes: string[] = [];
  private readonly api: LimitedApi | undefined;
  private readonly deployments: Deployments | undefined;
  private skippedSaid = false;
  private readonly said = new Set<number>();
  private readonly jobDeployments = new Map<string, Promise<Deployment | undefined>>();

  constructor(private readonly opts: RecordsOptions) {
    if (opts.api && opts.run.repository) {
      this.api = new LimitedApi(opts.api, opts.limits);
      this.deployments = new Deployments(this.api, opts.run.repository);
    }
  }

  /** deploy: the release's deployment (the job's own when it declares the environment), `in_progress`. */
  started(r: ReleaseRecord): Promise<number | undefined> {
    return this.deployment(
      `deployment of ${r.release} to ${r.environment}`,
      async (d) => {
        const dep = await this.deploymentFor(d, r);
        await d.addStatus(dep.id, 'in_progress', {
          description: `anew: deploying ${r.release}`,
          ...this.log(),
        });
        return dep.id;
      },
      r,
    );
  }

  /**
   * flip: `success` with the address users reach, and `inactive` for the
   * environment's deployments it replaced.
   */
  live(r: ReleaseRecord & { url?: string }): Promise<number | undefined> {
    return this.deployment(
      `deployment of ${r.release} to ${r.environment}`,
      async (d) => {
        const dep = await this.deploymentFor(d, r);
        await this.succeed(d, dep.id, r, `anew: ${r.release} takes the traffic`);
        return dep.id;
      },
      r,
    );
  }

  /** A deploy or flip that failed. The reason is anew's own text, never an API's. */
  failed(r: ReleaseRecord, reason: string): Promise<number | undefined> {
    return this.deployment(
      `deployment of ${r.release} to ${r.environment}`,
      async (d) => {
        const dep = await this.deploymentFor(d, r);
        await d.addStatus(dep.id, 'failure', { description: `anew: ${reason}`, ...this.log() });
        return dep.id;
      },
      r,
    );
  }

  /**
   * rollback: a new deployment of the release it returns to (same commit,
   * digest and target, `rollbackFrom` in its payload), `success`, and the
   * replaced one `inactive`. A new record rather than a status on the old one,
   * so the environment's history reads in the order traffic moved. In a job
   * that declares the environment, the job's own deployment takes it instead.
   */
  rolledBack(r: ReleaseRecord & { url?: string; from?: string }): Promise<number | undefined> {
    return this.deployment(
      `rollback of ${r.environment} to ${r.release}`,
      async (d) => {
        const dep =
          (await this.jobDeployment(d, r.environment)) ??
          (await d.create(this.createInput(r, { rollbackFrom: r.from }, `anew: rollback to ${r.release}`)));
        await this.succeed(d, dep.id, r, `anew: rolled back to ${r.release}`);
        return dep.id;
      },
      r,
    );
  }

  /**
   * cleanup: `inactive` for the deployments of the retired releases, or of
   * every release when the whole environment went (a closed pull request).
   */
  retired(environment: string, releases: readonly string[] | 'all'): Promise<number[] | undefined> {
    if (environment.trim() === '') throw new UserError('cleanup records need the environment');
    return this.deployment(`deployments of ${environment}`, (d) =>
      d.inactivate(environment, {
        description: releases === 'all' ? 'anew: environment removed' : 'anew: release retired',
        states: ['success', 'in_progress', 'queued', 'pending'],
        ...(releases === 'all'
          ? {}
          : { only: (x: Deployment) => releases.includes(anewPayload(x)?.release ?? '') }),
      }),
    );
  }

  /**
   * The sticky comment of a preview: created once, then updated (by flip,
   * rollback and cleanup alike); on cleanup it says the preview was removed.
   * Without a pull request (a push run) it says in one line that it wrote none.
   */
  comment(
    c: Omit<PreviewComment, 'pullRequest'> & { pullRequest: number | undefined },
  ): Promise<number | undefined> {
    const { pullRequest } = c;
    return this.guard(
      'comment',
      `comment on pull request #${pullRequest}`,
      async (api, repository) => {
        if (pullRequest === undefined) {
          if (this.opts.required?.comment)
            throw new UserError(
              'the pull-request comment was asked for, but this run is not for a pull request',
            );
          this.opts.log.info('Pull-request comment skipped: this run is not for a pull request');
          return undefined;
        }
        const res = await upsertComment(api, repository, { ...c, pullRequest }, this.opts.commentAuthor);
        this.notes.push(`Pull request #${pullRequest}: preview comment ${res.action}`);
        return res.id;
      },
      () => {
        if (pullRequest !== undefined && (!Number.isSafeInteger(pullRequest) || pullRequest <= 0))
          throw new UserError(`pull request number ${pullRequest} is not a positive whole number`);
        checkDigest(c.digest);
        if (c.rolledBackFrom !== undefined) checkDigest(c.rolledBackFrom);
      },
    );
  }

  private async deploymentFor(d: Deployments, r: ReleaseRecord): Promise<Deployment> {
    const job = await this.jobDeployment(d, r.environment);
    if (job) return job;
    const input = this.createInput(r, {}, `anew: ${r.release}`);
    return (await d.findRelease(r.environment, r.release, input.sha)) ?? (await d.create(input));
  }

  /** The deployment GitHub made for this job's `environment:`, so anew never makes a second one. */
  private async jobDeployment(d: Deployments, environment: string): Promise<Deployment | undefined> {
    const runId = this.opts.run.runId;
    if (!runId) return undefined;
    // GitHub made it before the job started: one look per environment is enough for the whole run.
    let looked = this.jobDeployments.get(environment);
    if (!looked) {
      looked = d.findJobDeployment(environment, runId);
      this.jobDeployments.set(environment, looked);
    }
    const job = await looked;
    if (job && !this.said.has(job.id)) {
      this.said.add(job.id);
      this.opts.log.info(`GitHub: this job's environment made deployment ${job.id}; anew adds its statuses`);
    }
    return job;
  }

  private createInput(r: ReleaseRecord, extra: Partial<AnewPayload>, description: string) {
    const sha = r.commit ?? this.opts.run.sha;
    if (!sha) throw new UserError('the release has no commit and GITHUB_SHA is not set');
    return {
      environment: r.environment,
      sha,
      description,
      transient: r.transient ?? /^pr-\d+$/.test(r.environment),
      production: r.production ?? r.environment === 'production',
      payload: {
        app: r.app,
        release: r.release,
        digest: r.digest,
        target: r.target,
        ...(this.opts.run.runId ? { runId: this.opts.run.runId } : {}),
        ...extra,
      },
    };
  }

  private async succeed(d: Deployments, id: number, r: ReleaseRecord & { url?: string }, text: string) {
    await d.addStatus(id, 'success', {
      description: text,
      ...(r.url ? { environmentUrl: r.url } : {}),
      ...this.log(),
    });
    const replaced = await d.inactivate(r.environment, {
      keep: id,
      description: `anew: replaced by ${r.release}`,
      states: ['success'],
      settled: true,
    });
    this.notes.push(
      `Deployment #${id} of ${r.environment}: success${r.url ? ` at ${r.url}` : ''}` +
        (replaced.length > 0 ? `; inactive: ${replaced.map((x) => `#${x}`).join(', ')}` : ''),
    );
  }

  private log(): { logUrl?: string } {
    const url = runUrl(this.opts.run);
    return url ? { logUrl: url } : {};
  }

  private deployment<T>(
    what: string,
    fn: (d: Deployments) => Promise<T>,
    r?: ReleaseRecord,
  ): Promise<T | undefined> {
    return this.guard('deployment', what, () => fn(this.deployments!), r ? () => checkRelease(r) : () => {});
  }

  /**
   * Runs one record. Without a token or outside GitHub it says once what it
   * skipped; a failure warns (naming the missing permission on a 403) unless
   * the record was required, when it fails the step.
   */
  private async guard<T>(
    kind: Kind,
    what: string,
    fn: (api: LimitedApi, repository: string) => Promise<T>,
    check: () => void,
  ): Promise<T | undefined> {
    const required = this.opts.required?.[kind] === true;
    check();
    if (!this.api || !this.opts.run.repository) {
      const why = !this.opts.run.repository
        ? 'not a GitHub Actions run (no GITHUB_REPOSITORY)'
        : 'no github-token';
      if (required)
        throw new UserError(
          `the ${what} was asked for, but ${this.opts.run.repository ? 'there is no github-token' : `this is ${why}`}`,
          'Pass github-token (the default is the job token) inside a GitHub Actions run',
        );
      if (!this.skippedSaid) {
        this.skippedSaid = true;
        this.opts.log.info(`GitHub records skipped (deployments, pull-request comment): ${why}`);
        this.notes.push(`GitHub records skipped: ${why}`);
      }
      return undefined;
    }
    try {
      return await fn(this.api, this.opts.run.repository);
    } catch (e) {
      if (!(e instanceof GitHubApiError)) {
        // A record nobody asked for never fails the release it describes, whatever went wrong.
        if (required) throw e;
        this.opts.log.warning(`the ${what} was not written: ${errorMessage(e)}`);
        this.notes.push(`GitHub ${what}: not written`);
        return undefined;
      }
      // GitHub's own words are data from the network: the logger masks secrets in them, the summary never sees them.
      if (e.apiMessage) this.opts.log.debug(`GitHub said: ${e.apiMessage}`);
      const denied = e.status === 403 && !e.rateLimited;
      const message = denied
        ? `the ${what} was not written: the token lacks ${this.permission(kind, e)} (${e.message})`
        : `the ${what} was not written: ${e.message}`;
      const hint = denied ? `Give the job \`permissions:\` ${this.permission(kind, e)}` : undefined;
      if (required) throw new UserError(message, hint);
      this.opts.log.warning(hint ? `${message}. ${hint}` : message);
      this.notes.push(`GitHub ${what}: not written (${e.status ? `HTTP ${e.status}` : e.message})`);
      return undefined;
    }
  }

  /** GitHub names the permission sets that would do; the one anew documents comes first. */
  private permission(kind: Kind, e: GitHubApiError): string {
    const wanted = NEEDS[kind];
    const named = e.accepted.length > 0 ? e.accepted : wanted;
    const rank = (p: string) => (wanted.includes(p) ? wanted.indexOf(p) : wanted.length);
    return [...named].sort((a, b) => rank(a) - rank(b)).join(' or ');
  }
}

/** The caller's mistakes are refused before anything is sent, recorded or not. */
function checkRelease(r: ReleaseRecord & { url?: string }): void {
  for (const k of ['app', 'environment', 'release', 'target'] as const)
    if (typeof r[k] !== 'string' || r[k].trim() === '') throw new UserError(`the release record has no ${k}`);
  checkDigest(r.digest);
  if (r.commit !== undefined && !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(r.commit))
    throw new UserError(`commit ${JSON.stringify(r.commit)} is not a full hexadecimal commit id`);
  if (r.url !== undefined && !/^https?:\/\/[^\s/]+/.test(r.url))
    throw new UserError(`environment URL ${JSON.stringify(r.url)} is not an http(s) address`);
}

function checkDigest(d: string): void {
  if (!/^sha256:[0-9a-f]{64}$/.test(d))
    throw new UserError(`digest ${JSON.stringify(d)} is not sha256:<64 hex digits>`);
}
