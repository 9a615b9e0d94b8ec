// Helpers of the build end-to-end tests (test/build*.test.ts): an independent
// engine (podman), a request-recording proxy in front of a registry, and the
// OCI image-spec JSON schemas.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { repoRoot } from './action.ts';

/** A copy of the sample app with Debian's static busybox in it, as the Dockerfile and the `files` lines expect. */
export function sampleContext(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-sample-'));
  fs.cpSync(path.join(repoRoot, 'test/fixtures/sample-app'), dir, { recursive: true });
  if (!fs.existsSync('/bin/busybox'))
    throw new Error('/bin/busybox is missing: install busybox-static (bash test/services/install.sh)');
  fs.copyFileSync('/bin/busybox', path.join(dir, 'busybox'));
  return dir;
}

/** The daemonless description of the sample app (see test/fixtures/sample-app/README.md). */
export const SAMPLE_INPUTS = {
  base: 'scratch',
  files: 'busybox:/bin/busybox\nsite/:/www/',
  env: 'PORT=8080',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, expanded in the container
  entrypoint: '["/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p \\"${PORT}\\" -h /www"]',
};

/** The manifest bytes of an image, as skopeo (an independent client) reads them. */
export function skopeoRaw(ref: string, creds?: { username: string; password: string }): Buffer {
  const auth = creds ? ['--creds', `${creds.username}:${creds.password}`] : [];
  return execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ...auth, `docker://${ref}`]);
}

/** The config blob of an image, as skopeo reads it. */
export function skopeoConfig(ref: string): Buffer {
  return execFileSync('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`]);
}

/**
 * podman with a private configuration and storage in a temporary folder:
 * runc, vfs, cgroupfs and no default ulimits, as this machine needs.
 */
export class Podman {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-podman-'));
  private readonly env: NodeJS.ProcessEnv;
  constructor() {
    fs.writeFileSync(
      path.join(this.dir, 'containers.conf'),
      '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
    );
    fs.writeFileSync(
      path.join(this.dir, 'storage.conf'),
      `[storage]\ndriver = "vfs"\ngraphroot = "${this.dir}/root"\nrunroot = "${this.dir}/run"\n`,
    );
    this.env = {
      ...process.env,
      CONTAINERS_CONF: path.join(this.dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: path.join(this.dir, 'storage.conf'),
    };
  }
  run(args: string[]): string {
    return execFileSync('podman', args, {
      env: this.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  /** Removes every container and image it made, then its storage. */
  cleanup(): void {
    try {
      this.run(['rm', '--all', '--force', '--time', '0']);
      this.run(['rmi', '--all', '--force']);
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

export async function waitForText(url: string, text: string, timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      last = await res.text();
      if (last.includes(text)) return last;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not serve "${text}"; last answer: ${last.slice(0, 300)}`);
}

/** A plain HTTP proxy in front of a registry that records every request line ("POST /v2/…"), and can refuse some. */
export async function recordingProxy(
  target: string,
  opts: { deny?: (request: string) => boolean } = {},
): Promise<{ host: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const [targetHost, targetPort] = target.split(':');
  const server = http.createServer((req, res) => {
    const line = `${req.method} ${req.url}`;
    requests.push(line);
    if (opts.deny?.(line)) {
      // A permanent refusal in the registry's own error format.
      req.resume();
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'uploads refused by the test proxy' }] }));
      return;
    }
    const upstream = http.request(
      { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Requests that send blob content (uploads or mounts), the ones a cache hit must not make. */
export function blobWrites(requests: readonly string[]): string[] {
  return requests.filter((r) => /^(POST|PATCH|PUT) \/v2\/.+\/blobs\/uploads\//.test(r));
}

/** Where Debian's golang-github-opencontainers-image-spec-dev (installed by test/services/install.sh) puts the schemas. */
const SCHEMA_DIR = '/usr/share/gocode/src/github.com/opencontainers/image-spec/schema';

/**
 * Validators for the official OCI image-spec JSON schemas, as Debian ships
 * them. They are draft-04 and refer to each other by `id` and relative file
 * names; ajv speaks draft-07, so the ids are dropped and each file is
 * registered under the URLs its neighbours use for it.
 *
 * Debian's package is image-spec 1.1.0-rc2, whose schemas predate fields
 * that 1.1.0 added: `artifactType` and `subject` on manifests and indexes,
 * `artifactType` and `data` on descriptors. The rc2 schemas let any extra
 * field through, so these fields are checked here against 1.1.0's rules
 * (a media type; a descriptor; base64) on top of the rc2 schema.
 */
export function ociSchemas(): {
  manifest: ValidateFunction;
  index: ValidateFunction;
  config: ValidateFunction;
} {
  if (!fs.existsSync(SCHEMA_DIR))
    throw new Error(
      `the OCI image-spec JSON schemas are not at ${SCHEMA_DIR}: install golang-github-opencontainers-image-spec-dev (bash test/services/install.sh)`,
    );
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'id' && typeof x === 'string' && x.startsWith('http')) || k === '$schema') continue;
        out[k] = strip(x);
      }
      return out;
    }
    return v;
  };
  for (const f of fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'))) {
    const schema = strip(JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, f), 'utf8'))) as object;
    for (const base of ['https://opencontainers.org/schema/image/', 'https://opencontainers.org/schema/'])
      ajv.addSchema(schema, `${base}${f}`);
  }
  const get = (f: string) => ajv.getSchema(`https://opencontainers.org/schema/image/${f}`)!;
  // 1.1.0's additions, in 1.1.0's words (schema/defs-descriptor.json, content-descriptor.json, image-*-schema.json).
  const mediaType = {
    $ref: 'https://opencontainers.org/schema/image/defs-descriptor.json#/definitions/mediaType',
  };
  const descriptor11 = {
    allOf: [{ $ref: 'https://opencontainers.org/schema/image/content-descriptor.json' }],
    properties: {
      artifactType: mediaType,
      data: { type: 'string', contentEncoding: 'base64', pattern: '^[A-Za-z0-9+/]*={0,2}$' },
    },
  };
  const later = ajv.compile({
    properties: {
      artifactType: mediaType,
      subject: descriptor11,
      config: descriptor11,
      layers: { items: descriptor11 },
      manifests: { items: descriptor11 },
    },
  });
  const both = (rc2: ValidateFunction): ValidateFunction => {
    const f = ((doc: unknown) => {
      const ok = rc2(doc) && later(doc);
      f.errors = rc2.errors ?? later.errors;
      return ok;
    }) as ValidateFunction;
    return f;
  };
  return {
    manifest: both(get('image-manifest-schema.json')),
    index: both(get('image-index-schema.json')),
    config: get('config-schema.json'),
  };
}

/** Every repository of a registry with its tags (from the catalog), to prove nothing was pushed. */
export async function registryContents(host: string): Promise<Record<string, string[]>> {
  const { repositories } = (await (await fetch(`http://${host}/v2/_catalog`)).json()) as {
    repositories: string[];
  };
  const out: Record<string, string[]> = {};
  for (const r of repositories ?? []) {
    const { tags } = (await (await fetch(`http://${host}/v2/${r}/tags/list`)).json()) as {
      tags: string[] | null;
    };
    out[r] = tags ?? [];
  }
  return out;
}
