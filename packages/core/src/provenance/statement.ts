import { UserError } from '../errors/index.ts';
import type { RunContext } from '../github/index.ts';
import type { Digest } from '../ref/index.ts';

/**
 * in-toto Statement v1 with the SLSA provenance v1 predicate, shaped as
 * GitHub's own build attestations are (actions/attest-build-provenance), so
 * that the tools that read those read ours.
 */

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** Our buildType; docs/provenance.md documents its parameters. */
export const BUILD_TYPE = 'https://github.com/anew-dev/anew/blob/main/docs/provenance.md#buildtype-v1';

export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest: Record<string, string>;
}

export interface Statement {
  _type: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  // biome-ignore lint/suspicious/noExplicitAny: predicates are free-form JSON; readers check the fields they use
  predicate: any;
}

export interface SlsaProvenance {
  buildDefinition: {
    buildType: string;
    externalParameters: { workflow: { repository: string; ref: string; path: string } };
    internalParameters: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string };
    metadata: { invocationId: string; startedOn?: string; finishedOn: string };
  };
}

export interface ProvenanceOptions {
  /** What the statement is about: each manifest with the repository it lives in. */
  subjects: { name: string; digest: Digest }[];
  run: RunContext;
  /**
   * The workflow that runs the job, `owner/repo/.github/workflows/f.yml@ref`.
   * Keyless signing takes it from the OIDC token's job_workflow_ref (right for
   * reusable workflows too); otherwise GITHUB_WORKFLOW_REF.
   */
  jobWorkflowRef?: string;
  inputsDigest?: Digest;
  baseDigest?: Digest;
  /**
   * The build step reused an image it found under the cache tag: this run
   * built nothing. `invocationId` names the run that built it, when known.
   */
  reused?: { invocationId?: string };
  startedOn?: Date;
  finishedOn: Date;
}

export function digestMap(digest: Digest): Record<string, string> {
  const i = digest.indexOf(':');
  return { [digest.slice(0, i)]: digest.slice(i + 1) };
}

/** The SLSA v1 provenance statement for `subjects`, built in this run. */
export function buildProvenanceStatement(o: ProvenanceOptions): Statement & { predicate: SlsaProvenance } {
  const { run } = o;
  const workflowRef = o.jobWorkflowRef ?? run.workflowRef;
  if (!run.repository || !workflowRef) {
    throw new UserError(
      'the provenance needs the repository and workflow of the run, and GITHUB_REPOSITORY or GITHUB_WORKFLOW_REF is not set',
      'Run attest inside a GitHub Actions job, or set both variables',
    );
  }
  const repoUrl = `${run.serverUrl}/${run.repository}`;
  // owner/repo/.github/workflows/main.yml@refs/heads/main → .github/workflows/main.yml
  const workflowPath = (run.workflowRef ?? workflowRef).replace(`${run.repository}/`, '').split('@')[0] ?? '';
  const ref = run.ref ?? '';
  const dependencies: ResourceDescriptor[] = [];
  if (run.sha) dependencies.push({ uri: `git+${repoUrl}@${ref}`, digest: { gitCommit: run.sha } });
  if (o.baseDigest) dependencies.push({ name: 'base-image', digest: digestMap(o.baseDigest) });
  const anew: Record<string, unknown> = {};
  if (o.inputsDigest) anew['inputsDigest'] = o.inputsDigest;
  if (o.reused) anew['reused'] = o.reused.invocationId ? { invocationId: o.reused.invocationId } : {};
  const invocationId =
    run.runId !== undefined
      ? `${repoUrl}/actions/runs/${run.runId}/attempts/${run.runAttempt ?? '1'}`
      : `urn:uuid:${crypto.randomUUID()}`;
  return {
    _type: STATEMENT_TYPE,
    subject: o.subjects.map((s) => ({ name: s.name, digest: digestMap(s.digest) })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: { workflow: { repository: repoUrl, ref, path: workflowPath } },
        internalParameters: {
          github: { event_name: run.eventName, runner_environment: run.runnerEnvironment },
          ...(Object.keys(anew).length > 0 ? { anew } : {}),
        },
        resolvedDependencies: dependencies,
      },
      runDetails: {
        builder: { id: `${run.serverUrl}/${workflowRef}` },
        metadata: {
          invocationId,
          ...(o.startedOn ? { startedOn: o.startedOn.toISOString() } : {}),
          finishedOn: o.finishedOn.toISOString(),
        },
      },
    },
  };
}
