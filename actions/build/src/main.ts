import fs from 'node:fs';
import path from 'node:path';
import type { ActionContext, ActionDefinition, InputReader } from '@anew/action';
import { readVerifyPolicy } from '@anew/action/policy';
import {
  type BuildPlan,
  type BuildRequest,
  build,
  checkCachePolicy,
  defaultSourceDateEpoch,
  imageLabels,
  parseSourceDateEpoch,
  parseTags,
  planBuild,
  runDerivedLabels,
  writeBuildRecord,
} from '@anew/core/build';
import { UserError } from '@anew/core/errors';
import { Exec } from '@anew/core/exec';
import { runContextFromEnv } from '@anew/core/github';
import { parseCommand, parseFileMappings, parsePlatform, userCacheDir } from '@anew/core/image';
import {
  type Digest,
  parsePinnedReference,
  parseReference,
  type Reference,
  shortDigest,
} from '@anew/core/ref';
import { type Credential, CredentialStore, RegistryClient } from '@anew/core/registry';
import { spec } from './spec.ts';

export interface BuildInputs {
  request: Omit<BuildRequest, 'epoch'>;
  /** Undefined: the commit time of HEAD, else 0 (needs git, so resolved in main). */
  sourceDateEpoch?: number;
  credential?: Credential;
}

export type BuildOutputs = {
  digest: Digest;
  image: Reference & { digest: Digest };
  'inputs-digest': Digest;
  'cache-hit': boolean;
  tags: string[];
  'base-digest': Digest | undefined;
};

/** Reads and checks every input; nothing is contacted or written here. */
export function parse(r: InputReader): BuildInputs {
  const repo = r.repository('image');
  const files = parseFileMappings(r.list('files'));
  const daemonless = files.length > 0;
  const dockerOnly = ['build-args', 'target'].filter((k) => r.given(k));
  const filesOnly = ['base', 'entrypoint', 'cmd', 'env', 'workdir', 'user'].filter((k) => r.given(k));
  const q = (k: string) => r.source.short(k);
  if (daemonless && dockerOnly.length > 0)
    throw new UserError(
      `${dockerOnly.map(q).join(', ')} apply to Dockerfile builds, but ${q('files')} selects the daemonless builder`,
      `Remove them, or remove ${q('files')} to build the Dockerfile`,
    );
  if (!daemonless && filesOnly.length > 0)
    throw new UserError(
      `${filesOnly.map(q).join(', ')} apply to the daemonless builder, which ${q('files')} selects, but ${q('files')} is empty`,
      `Give ${q('files')} (SOURCE:DESTINATION per line), or describe the image in a Dockerfile`,
    );
  const base = r.optional('base');
  const command = (name: string) => {
    const v = r.optional(name);
    return v === undefined ? undefined : parseCommand(v, r.name(name));
  };
  const platforms = r.list('platforms', { commas: true });
  const epoch = r.optional('source-date-epoch');
  const userLabels = r.keyValues('labels');
  const run = runContextFromEnv();
  const credential = r.credential('registry-username', 'registry-password');
  return {
    request: {
      repo,
      context: r.str('context') || '.',
      tags: parseTags(r.list('tags'), repo, r.name('tags')),
      // Default in code: on for files (the inputs-digest sees every byte), off for a Dockerfile (it cannot see the network).
      cache: r.given('cache') ? r.bool('cache') : daemonless,
      cachePolicy: cachePolicyOf(r),
      platforms:
        platforms.length > 0
          ? [...new Set(platforms)].map((p) => parsePlatform(p, r.name('platforms')))
          : undefined,
      labels: imageLabels(run, userLabels),
      incidental: { epoch: epoch === undefined, labels: runDerivedLabels(run, userLabels) },
      daemonless: daemonless
        ? {
            files,
            base: base === undefined || base === 'scratch' ? undefined : parseReference(base, r.name('base')),
            settings: {
              entrypoint: command('entrypoint'),
              cmd: command('cmd'),
              env: r.keyValues('env'),
              workdir: r.optional('workdir'),
              user: userOf(r),
            },
          }
        : undefined,
      dockerfile: daemonless
        ? undefined
        : {
            file: r.str('dockerfile') || 'Dockerfile',
            buildArgs: r.keyValues('build-args'),
            target: r.optional('target'),
          },
    },
    sourceDateEpoch:
      epoch === undefined ? undefined : parseSourceDateEpoch(epoch, r.name('source-date-epoch')),
    credential,
  };
}

/** The cache's trust policy, when one of its signers is given: the verify policy's reader, under `cache-` names. */
function cachePolicyOf(r: InputReader): BuildRequest['cachePolicy'] {
  const keyless = r.given('cache-certificate-identity-regexp');
  // What only a keyless policy reads means nothing without the identity it checks.
  const keylessOnly = ['cache-certificate-oidc-issuer', 'cache-trusted-root'].filter((k) => r.given(k));
  if (!keyless && keylessOnly.length > 0)
    throw new UserError(
      `${keylessOnly.map((k) => r.name(k)).join(' and ')} ${keylessOnly.length > 1 ? 'are' : 'is'} set without ${r.name('cache-certificate-identity-regexp')}`,
      'Give the identity the certificate must carry too, or use cache-public-key for key-signed provenance',
    );
  if (!keyless && !r.given('cache-public-key')) return undefined;
  return readVerifyPolicy(r, 'cache-');
}

/** The image's user: a name or uid, with an optional group (name or gid). */
function userOf(r: InputReader): string | undefined {
  const v = r.optional('user');
  if (v !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/.test(v))
    throw new UserError(
      `${r.name('user')} is ${JSON.stringify(v)}`,
      'Give a user name or uid, optionally :group, e.g. 1000:1000 or app',
    );
  return v;
}

/**
 * Where checksums of context files are kept between builds: none on a
 * GitHub-hosted runner, a fresh machine for every job, where they would
 * never be read again (writing them would only slow a hit down).
 */
function checksumDir(env: NodeJS.ProcessEnv): string | undefined {
  return env['RUNNER_ENVIRONMENT'] === 'github-hosted' ? undefined : userCacheDir(env);
}

/** What build and its plan share: the resolved epoch, the registry client and a scratch folder. */
async function withBuildDeps<T>(
  inputs: BuildInputs,
  { log }: ActionContext,
  fn: (req: BuildRequest, deps: Parameters<typeof build>[1]) => Promise<T>,
): Promise<T> {
  const { request, credential } = inputs;
  // Before anything is read or written: a bad trusted root would otherwise only turn every hit into a rebuild.
  if (request.cachePolicy) await checkCachePolicy(request.cachePolicy);
  const registry = request.repo.registry;
  const exec = new Exec(log);
  const credentials = credential ? { [registry]: credential } : undefined;
  // One store for the run, so a credential helper runs once per registry.
  const credentialStore = new CredentialStore(credentials);
  // Read the docker config now, so an unreadable one fails before anything is pushed.
  if (!credential) await credentialStore.get(registry);
  const epoch = inputs.sourceDateEpoch ?? (await defaultSourceDateEpoch(exec, request.context));
  const client = new RegistryClient({ log, credentials, credentialStore });
  const tmpDir = fs.mkdtempSync(
    path.join(process.env['RUNNER_TEMP'] || fs.realpathSync('/tmp'), 'anew-build-'),
  );
  try {
    return await fn(
      { ...request, epoch },
      { client, exec, log, tmpDir, credential, checksumDir: checksumDir(process.env) },
    );
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

/** A dry run of build: what it would build or reuse, with nothing written anywhere. */
export function plan(inputs: BuildInputs, ctx: ActionContext): Promise<BuildPlan> {
  return withBuildDeps(inputs, ctx, (req, deps) => planBuild(req, deps));
}

const action: ActionDefinition<BuildInputs, BuildOutputs> = {
  ...spec,
  parse,
  async main(inputs, ctx) {
    const startedOn = new Date();
    const { summary } = ctx;
    const r = await withBuildDeps(inputs, ctx, (req, deps) => build(req, deps));
    const image = parsePinnedReference(r.image);
    writeBuildRecord(ctx.jobDir, r.digest, {
      inputsDigest: r.inputsDigest,
      baseDigest: r.baseDigest,
      startedOn,
      finishedOn: new Date(),
      reused: r.reused,
    });
    summary.title = `anew/build: ${inputs.request.repo.name}@${shortDigest(r.digest)}`;
    summary
      .row('Image', r.image)
      .row('Digest', r.digest)
      .row('Size', `${(r.size / 1024 / 1024).toFixed(2)} MiB`)
      .row('Layers', r.layers)
      .row('Platforms', r.platforms.join(', '))
      .row('Cache hit', r.cacheHit)
      .row('Reused, built by', r.reused && (r.reused.builtBy ?? 'unknown (no cache policy verified it)'))
      .row('Cache refused', r.cacheRefused)
      .row('Inputs digest', r.inputsDigest)
      .row('Base digest', r.baseDigest)
      .row('Tags', r.tags.join(' '))
      .row('Builder', r.builder);
    return {
      digest: r.digest,
      image,
      'inputs-digest': r.inputsDigest,
      'cache-hit': r.cacheHit,
      tags: r.tags,
      'base-digest': r.baseDigest,
    };
  },
};

export default action;
