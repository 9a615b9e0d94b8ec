import fs from 'node:fs';
import path from 'node:path';
import type { Exec } from '../exec/index.ts';
import type { Logger } from '../log/index.ts';
import type { Digest, Reference } from '../ref/index.ts';
import type { Credential, RegistryClient } from '../registry/index.ts';
import {
  buildxBuildArgv,
  buildxEnvironment,
  type DockerfileBuild,
  digestFromBuildxMetadata,
  dockerBuildArgv,
} from './dockerfile.ts';

export interface DockerfileBuilder {
  /** Goes into the inputs-digest: another builder may make other bytes. */
  version: string;
  /** Builds and pushes; returns the digest the registry holds. */
  build(b: DockerfileBuild, repo: Reference, recordTag: string, pull: boolean): Promise<Digest>;
}

export interface DockerDeps {
  exec: Exec;
  client: RegistryClient;
  log: Logger;
  tmpDir: string;
  /** Credentials from inputs: logged in for the docker CLI in a private config, never in the user's. */
  credential?: Credential;
  env?: NodeJS.ProcessEnv;
}

/**
 * With explicit credentials, the docker CLI gets a config folder of its own
 * (DOCKER_CONFIG) with a login made through stdin, so the password is
 * neither on a command line nor left in the user's ~/.docker.
 */
async function dockerEnv(deps: DockerDeps, repo: Reference): Promise<NodeJS.ProcessEnv> {
  const env = { ...(deps.env ?? process.env) };
  if (!deps.credential) return env;
  const dir = fs.mkdtempSync(path.join(deps.tmpDir, 'docker-config-'));
  env['DOCKER_CONFIG'] = dir;
  await deps.exec.run(
    'docker',
    ['login', '--username', deps.credential.username, '--password-stdin', repo.registry],
    {
      env,
      input: deps.credential.password,
    },
  );
  return env;
}

/** The Docker engine through the docker CLI: build, push one tag, read the digest from the registry. */
export async function engineBuilder(deps: DockerDeps): Promise<DockerfileBuilder> {
  const { stdout } = await deps.exec.run('docker', ['version', '--format', '{{.Server.Version}}'], {
    quiet: true,
    env: deps.env,
  });
  return {
    version: `docker-engine/${stdout.trim()}`,
    async build(b, repo, recordTag, pull) {
      const env = await dockerEnv(deps, repo);
      const image = `${repo.name}:${recordTag}`;
      try {
        await deps.exec.run('docker', dockerBuildArgv(b, image, pull), { env });
        await deps.exec.run('docker', ['push', image], { env });
      } finally {
        // The registry has the image now: the engine keeps no tag of ours. Its untagged parents stay
        // (--no-prune): they are the engine's build cache, and another build running now may stand on
        // one of them (the legacy builder takes any matching image as its parent); deleting it would
        // fail that build with "unknown parent image ID".
        await deps.exec.run('docker', ['image', 'rm', '--no-prune', image], {
          env,
          ignoreReturnCode: true,
          quiet: true,
        });
      }
      // The digest is what the registry serves, hashed by our client, not what the CLI printed.
      const pushed = await deps.client.resolve(repo.repo.withTag(recordTag));
      if (!pushed) throw new Error(`docker pushed ${image}, but the registry does not have it`);
      return pushed.digest;
    },
  };
}

/** buildx, found and run through @docker/actions-toolkit, as on GitHub-hosted runners. Undefined when not installed. */
export async function buildxBuilder(deps: DockerDeps): Promise<DockerfileBuilder | undefined> {
  // Loaded only for Dockerfile builds: the toolkit is large and the daemonless path never needs it.
  const { Buildx } = await import('@docker/actions-toolkit/lib/buildx/buildx.js');
  const { Builder } = await import('@docker/actions-toolkit/lib/buildx/builder.js');
  const buildx = new Buildx();
  if (!(await buildx.isAvailable())) return undefined;
  const version = await buildx.version();
  // The selected builder's driver decides how the image is pushed (see buildxBuildArgv); a builder
  // that cannot be inspected is taken for a BuildKit one, which is what setup-buildx-action makes.
  const driver = await new Builder({ buildx })
    .inspect()
    .then((info) => info.driver ?? 'docker-container')
    .catch(() => 'docker-container');
  return {
    // The driver is part of the builder's identity: the docker driver makes other bytes.
    version: `buildx/${version} (${driver} driver)`,
    async build(b, repo, recordTag, _pull) {
      const env = await dockerEnv(deps, repo);
      const metadataFile = path.join(fs.mkdtempSync(path.join(deps.tmpDir, 'buildx-')), 'metadata.json');
      const cmd = await buildx.getCommand(buildxBuildArgv(b, repo.name, metadataFile, { driver, recordTag }));
      try {
        await deps.exec.run(cmd.command, cmd.args, { env: { ...env, ...buildxEnvironment(b) } });
      } finally {
        // The docker driver leaves the image in the engine too; the registry has it now.
        if (driver === 'docker')
          await deps.exec.run('docker', ['image', 'rm', `${repo.name}:${recordTag}`], {
            env,
            ignoreReturnCode: true,
            quiet: true,
          });
      }
      const reported = digestFromBuildxMetadata(fs.readFileSync(metadataFile, 'utf8'));
      if (driver !== 'docker') return reported;
      // The engine pushed by tag: the digest is what the registry serves under it, hashed by our client.
      const pushed = await deps.client.resolve(repo.repo.withTag(recordTag));
      if (!pushed)
        throw new Error(`buildx pushed ${repo.name}:${recordTag}, but the registry does not have it`);
      if (pushed.digest !== reported)
        deps.log.debug(
          `buildx reported ${reported}; the registry serves ${pushed.digest} under ${recordTag}`,
        );
      return pushed.digest;
    },
  };
}
