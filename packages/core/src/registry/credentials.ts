import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors/index.ts';

export interface Credential {
  username: string;
  password: string;
}

/** Credentials given explicitly (action inputs), by registry host. */
export type CredentialMap = Record<string, Credential>;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The keys docker/login-action and `docker login` may have used for a registry. */
function configKeys(registry: string): string[] {
  if (registry === 'docker.io')
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];
  return [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['DOCKER_CONFIG'] || path.join(env['HOME'] || os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/**
 * Finds credentials the way docker does: explicit ones first, then
 * ~/.docker/config.json (`auths`, as docker/login-action writes them), then a
 * credential helper (`credHelpers`, `credsStore`). Anonymous when none.
 */
export class CredentialStore {
  private config: DockerConfig | undefined;
  private loaded = false;
  /** One look-up per registry per run: a credential helper (ecr-login) is a process and a cloud call. */
  private readonly found = new Map<string, Promise<Credential | undefined>>();

  constructor(
    private readonly explicit: CredentialMap = {},
    private readonly configFile = dockerConfigPath(),
  ) {}

  private readConfig(): DockerConfig {
    if (this.loaded) return this.config ?? {};
    this.loaded = true;
    let text: string;
    try {
      text = fs.readFileSync(this.configFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new UserError(
        `docker config ${this.configFile} is not readable: ${(e as Error).message}`,
        'Fix its permissions, or point DOCKER_CONFIG at a readable folder',
      );
    }
    try {
      this.config = JSON.parse(text) as DockerConfig;
    } catch (e) {
      throw new UserError(
        `docker config ${this.configFile} is not valid JSON: ${(e as Error).message}`,
        'Repair it (docker login rewrites it) or remove it',
      );
    }
    return this.config;
  }

  get(registry: string): Promise<Credential | undefined> {
    let p = this.found.get(registry);
    if (!p) {
      p = this.lookUp(registry);
      this.found.set(registry, p);
    }
    return p;
  }

  private async lookUp(registry: string): Promise<Credential | undefined> {
    const given = this.explicit[registry];
    if (given) return given;
    const config = this.readConfig();
    for (const key of configKeys(registry)) {
      const entry = config.auths?.[key];
      if (!entry) continue;
      if (entry.username && entry.password) return { username: entry.username, password: entry.password };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
      if (entry.identitytoken) return { username: '<token>', password: entry.identitytoken };
    }
    const helper = config.credHelpers?.[registry] ?? config.credsStore;
    if (helper) return runHelper(helper, registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry);
    return undefined;
  }
}

function runHelper(helper: string, serverUrl: string): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) {
    return Promise.reject(
      new UserError(
        `credential helper name "${helper}" is not valid`,
        'Check credHelpers in the docker config',
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { timeout: 30_000 }, (err, stdout) => {
      if (err) {
        // A helper that knows nothing of this registry exits non-zero with "credentials not found".
        if (/not found/i.test(stdout) || (err as NodeJS.ErrnoException).code === 'ENOENT')
          return resolve(undefined);
        return reject(
          new UserError(
            `credential helper docker-credential-${helper} failed: ${err.message.split('\n')[0]}`,
          ),
        );
      }
      try {
        const out = JSON.parse(stdout) as { Username?: string; Secret?: string };
        resolve(out.Secret ? { username: out.Username ?? '', password: out.Secret } : undefined);
      } catch {
        reject(
          new UserError(`credential helper docker-credential-${helper} printed something that is not JSON`),
        );
      }
    });
    child.stdin?.end(serverUrl);
  });
}
