import fs from 'node:fs';
import path from 'node:path';
import { type ActionDefinition, input } from '@anew/action';
import {
  type BuildRequest,
  build,
  defaultSourceDateEpoch,
  imageLabels,
  parseSourceDateEpoch,
  parseTags,
} from '@anew/core/build';
import { UserError } from '@anew/core/errors';
import { Exec } from '@anew/core/exec';
import { runContextFromEnv } from '@anew/core/github';
import { parseCommand, parseFileMappings, parsePlatform } from '@anew/core/image';
import { parseReference, shortDigest } from '@anew/core/ref';
import { type Credential, CredentialStore, RegistryClient } from '@anew/core/registry';

interface Inputs {
  request: Omit<BuildRequest, 'epoch'>;
  /** Undefined: the commit time of HEAD, else 0 (needs git, so resolved in main). */
  sourceDateEpoch?: number;
  credential?: Credential;
}

/** Reads and checks every input; nothing is contacted or written here. */
function readInputs(): Inputs {
  const repo = input.repository('image');
  const files = parseFileMappings(input.list('files'));
  const daemonless = files.length > 0;
  const dockerOnly = ['build-args', 'target'].filter((k) => input.optional(k) !== undefined);
  const filesOnly = ['base', 'entrypoint', 'cmd', 'env', 'workdir', 'user'].filter(
    (k) => input.optional(k) !== undefined,
  );
  if (daemonless && dockerOnly.length > 0)
    throw new UserError(
      `"${dockerOnly.join('", "')}" apply to Dockerfile builds, but "files" selects the daemonless builder`,
      'Remove them, or remove "files" to build the Dockerfile',
    );
  if (!daemonless && filesOnly.length > 0)
    throw new UserError(
      `"${filesOnly.join('", "')}" apply to the daemonless builder, which "files" selects, but "files" is empty`,
      'Give "files" (SOURCE:DESTINATION per line), or describe the image in a Dockerfile',
    );
  const base = input.optional('base');
  const command = (name: string) => {
    const v = input.optional(name);
    return v === undefined ? undefined : parseCommand(v, `input "${name}"`);
  };
  const platforms = input.list('platforms', { commas: true });
  const epoch = input.optional('source-date-epoch');
  const credential = input.credential('registry-username', 'registry-password');
  // build neither reads anew.yml (it has no build settings) nor calls the GitHub API;
  // both inputs are declared by every action, and the token is masked like any secret.
  input.str('config');
  input.secret('github-token');
  return {
    request: {
      repo,
      context: input.str('context') || '.',
      tags: parseTags(input.list('tags'), repo),
      cache: input.bool('cache', true),
      platforms:
        platforms.length > 0
          ? [...new Set(platforms)].map((p) => parsePlatform(p, 'input "platforms"'))
          : undefined,
      labels: imageLabels(runContextFromEnv(), input.keyValues('labels')),
      daemonless: daemonless
        ? {
            files,
            base: base === undefined || base === 'scratch' ? undefined : parseReference(base, 'input "base"'),
            settings: {
              entrypoint: command('entrypoint'),
              cmd: command('cmd'),
              env: input.keyValues('env'),
              workdir: input.optional('workdir'),
              user: input.optional('user'),
            },
          }
        : undefined,
      dockerfile: daemonless
        ? undefined
        : {
            file: input.str('dockerfile') || 'Dockerfile',
            buildArgs: input.keyValues('build-args'),
            target: input.optional('target'),
          },
    },
    sourceDateEpoch: epoch === undefined ? undefined : parseSourceDateEpoch(epoch),
    credential,
  };
}

const action: ActionDefinition<Inputs> = {
  name: 'build',
  readInputs,
  async main(inputs, { log, summary }) {
    const startedOn = new Date();
    const { request, credential } = inputs;
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
      const r = await build({ ...request, epoch }, { client, exec, log, tmpDir, credential });
      writeBuildRecord(r.digest, { inputsDigest: r.inputsDigest, baseDigest: r.baseDigest, startedOn });
      summary.title = `anew/build: ${request.repo.name}@${shortDigest(r.digest)}`;
      summary
        .row('Image', r.image)
        .row('Digest', r.digest)
        .row('Size', `${(r.size / 1024 / 1024).toFixed(2)} MiB`)
        .row('Layers', r.layers)
        .row('Platforms', r.platforms.join(', '))
        .row('Cache hit', r.cacheHit)
        .row('Inputs digest', r.inputsDigest)
        .row('Base digest', r.baseDigest)
        .row('Tags', r.tags.join(' '))
        .row('Builder', r.builder);
      return {
        digest: r.digest,
        image: r.image,
        'inputs-digest': r.inputsDigest,
        'cache-hit': r.cacheHit,
        tags: r.tags.join('\n'),
        'base-digest': r.baseDigest,
      };
    } finally {
      fs.rmSync(tmpDir, { recursive: true, force: true });
    }
  },
};

/**
 * What the attest action reads for the provenance of this digest,
 * $RUNNER_TEMP/anew/build-<hex>.json: the inputs-digest, the base's digest
 * (when there is a base) and when this build started and finished.
 */
function writeBuildRecord(
  digest: string,
  r: { inputsDigest: string; baseDigest: string | undefined; startedOn: Date },
): void {
  const dir = path.join(process.env['RUNNER_TEMP'] || '/tmp', 'anew');
  fs.mkdirSync(dir, { recursive: true });
  const body: Record<string, string> = { inputsDigest: r.inputsDigest };
  if (r.baseDigest) body['baseDigest'] = r.baseDigest;
  body['startedOn'] = r.startedOn.toISOString();
  body['finishedOn'] = new Date().toISOString();
  fs.writeFileSync(
    path.join(dir, `build-${digest.slice(digest.indexOf(':') + 1)}.json`),
    `${JSON.stringify(body)}\n`,
  );
}

export default action;
