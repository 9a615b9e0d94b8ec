import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './helpers/action.ts';
import {
  blobWrites,
  Podman,
  recordingProxy,
  registryContents,
  sampleContext,
  skopeoRaw,
  waitForText,
} from './helpers/build-tools.ts';
import {
  docker,
  freePort,
  type RunningService,
  services,
  servicesDir,
  startRegistry,
} from './helpers/services.ts';

/**
 * The Dockerfile path on a machine without buildx: the Docker engine builds,
 * the docker CLI pushes, and the digest comes from the registry.
 */
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let registry: RunningService;
let context: string;
let env: Record<string, string>;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  context = sampleContext();
  env = { DOCKER_HOST: services.dockerHost };
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await registry?.stop();
  fs.rmSync(context, { recursive: true, force: true });
});

/** Removes an image and every image built on it, children first: a chain only this file made. */
function removeChain(root: string): void {
  const all = docker(['image', 'ls', '--all', '--quiet', '--no-trunc']).trim().split('\n').filter(Boolean);
  const parentOf = new Map(
    docker(['image', 'inspect', '--format', '{{.Id}} {{.Parent}}', ...all])
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string]),
  );
  const chain = [root];
  for (let grew = true; grew; ) {
    grew = false;
    for (const [id, parent] of parentOf)
      if (chain.includes(parent) && !chain.includes(id)) {
        chain.push(id);
        grew = true;
      }
  }
  for (const id of chain.reverse())
    try {
      docker(['image', 'rm', '--force', '--no-prune', id]);
    } catch {
      // gone already
    }
}

describe('Dockerfile build through the Docker engine', () => {
  let first: Awaited<ReturnType<typeof runAction>>;
  const image = () => `${registry.host}/dockerfile/web`;

  beforeAll(async () => {
    first = await runAction(
      'build',
      {
        image: image(),
        context,
        tags: 'v1',
        'source-date-epoch': '1700000000',
        labels: 'org.example.kind=sample',
      },
      { env },
    );
    if (first.code !== 0) throw new Error(`build failed:\n${first.log}`);
  });

  it('pushes the image and outputs the digest of what the registry serves', () => {
    expect(first.log).toMatch(/Building with docker-engine\//);
    expect(first.log).toMatch(/Running: docker build --file .*Dockerfile/);
    expect(sha256(skopeoRaw(first.outputs['image']!))).toBe(first.outputs['digest']);
    expect(sha256(skopeoRaw(`${image()}:v1`))).toBe(first.outputs['digest']);
    expect(first.outputs['cache-hit']).toBe('false');
    expect(first.log).toContain('Not looking for a cached image: "cache" is off');
    expect(first.outputs['tags']).toBe(`${image()}:v1`);
  });

  it('leaves no image of ours in the engine', () => {
    expect(docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).not.toContain(image());
  });

  it('removes its tag but not its cached parents, which another build may be standing on', async () => {
    // A chain of images only this test makes (a label with a fresh id comes first), built once
    // and then stripped of its top, as another build's cache would be: untagged intermediates.
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-parents-'));
    cleanup.push(() => fs.rmSync(ctx, { recursive: true, force: true }));
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      `FROM scratch\nLABEL t=${randomUUID()}\nCOPY a /a\nCOPY b /b\n`,
    );
    fs.writeFileSync(path.join(ctx, 'a'), 'a\n');
    fs.writeFileSync(path.join(ctx, 'b'), 'b\n');
    const tag = `anew-test-parents:${randomUUID()}`;
    docker(['build', '--quiet', '--tag', tag, ctx]);
    const [, copyA, label] = docker(['history', '--quiet', '--no-trunc', tag]).trim().split('\n');
    expect(copyA).toMatch(/^sha256:/);
    cleanup.push(() => removeChain(label!));
    docker(['image', 'rm', '--no-prune', tag]);
    // anew builds the same Dockerfile: the engine takes the label and COPY a from the cache and
    // makes COPY b anew on top of copyA. Removing anew's tag must leave copyA: with docker's
    // default it would go too, and a build standing on it would fail with "unknown parent image ID".
    const r = await runAction(
      'build',
      { image: `${registry.host}/dockerfile/parents`, context: ctx },
      { env },
    );
    expect(r.code, r.log).toBe(0);
    expect(docker(['image', 'ls', '--format', '{{.Repository}}'])).not.toContain('dockerfile/parents');
    expect(docker(['image', 'inspect', '--format', '{{.Id}}', copyA!]).trim()).toBe(copyA);
  });

  it('runs and serves the site, with the labels given', async () => {
    const podman = new Podman();
    cleanup.push(() => podman.cleanup());
    const port = await freePort();
    podman.run(['pull', '--tls-verify=false', first.outputs['image']!]);
    const labels = JSON.parse(
      podman.run(['image', 'inspect', '--format', '{{json .Labels}}', first.outputs['image']!]),
    );
    expect(labels['org.example.kind']).toBe('sample');
    podman.run(['run', '--detach', '--network', 'host', '--env', `PORT=${port}`, first.outputs['image']!]);
    await waitForText(`http://127.0.0.1:${port}/about.html`, 'addressed by its digest');
  });

  it('rebuilds unchanged as a cache hit that builds and uploads nothing', async () => {
    const proxy = await recordingProxy(registry.host);
    cleanup.push(() => proxy.close());
    const again = await runAction(
      'build',
      {
        image: `${proxy.host}/dockerfile/web`,
        context,
        // Opt-in for Dockerfile builds: the inputs-digest cannot see what RUN or ADD fetch.
        cache: 'true',
        'source-date-epoch': '1700000000',
        labels: 'org.example.kind=sample',
      },
      { env },
    );
    expect(again.code, again.log).toBe(0);
    expect(again.outputs['cache-hit']).toBe('true');
    expect(again.outputs['digest']).toBe(first.outputs['digest']);
    expect(again.log).not.toMatch(/Running: docker build/);
    expect(blobWrites(proxy.requests)).toEqual([]);
  });

  it('refuses a missing Dockerfile clearly, pushing nothing', async () => {
    const empty = await startRegistry();
    cleanup.push(() => empty.stop());
    const r = await runAction(
      'build',
      { image: `${empty.host}/dockerfile/none`, context, dockerfile: 'nope/Dockerfile' },
      { env },
    );
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/the Dockerfile "nope\/Dockerfile" was not found in the context/);
    expect(await registryContents(empty.host)).toEqual({});
    expect(fs.existsSync(path.join(context, 'nope'))).toBe(false);
  });

  it('refuses daemonless-only inputs without "files"', async () => {
    const r = await runAction('build', { image: image(), context, entrypoint: '/x' }, { env });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/"entrypoint" apply to the daemonless builder.*"files" is empty/);
  });
});

describe('Dockerfile build with credentials from inputs', () => {
  it("logs the docker CLI in through a private config, leaving the user's alone", async () => {
    // A private registry with the services' htpasswd: nothing is left behind.
    const authRegistry = await startRegistry({ htpasswd: path.join(servicesDir(), 'htpasswd') });
    cleanup.push(() => authRegistry.stop());
    const { username, password } = services.authRegistry;
    const host = authRegistry.host;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-home-'));
    cleanup.push(() => fs.rmSync(home, { recursive: true, force: true }));
    const r = await runAction(
      'build',
      {
        image: `${host}/dockerfile/auth`,
        context,
        'registry-username': username,
        'registry-password': password,
      },
      { env: { ...env, HOME: home, DOCKER_CONFIG: undefined } },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.log).toMatch(/Running: docker login --username anew-user --password-stdin/);
    expect(r.log.split('\n').filter((l) => l.includes(password) && !l.startsWith('::add-mask::'))).toEqual(
      [],
    );
    expect(fs.existsSync(path.join(home, '.docker/config.json'))).toBe(false);
    expect(sha256(skopeoRaw(r.outputs['image']!, { username, password }))).toBe(r.outputs['digest']);
  });
});

/**
 * A stand-in `docker buildx` on PATH (no buildx installs here): it answers the toolkit's probes as buildx
 * v0.20.0 with the given driver, runs `build` (a bash snippet that sees the build's argv in "$@" and where
 * to write the metadata file in $meta), and passes every other command to the real docker CLI.
 */
function fakeBuildx(driver: 'docker' | 'docker-container', build: string): string {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-fake-buildx-'));
  cleanup.push(() => fs.rmSync(bin, { recursive: true, force: true }));
  const realDocker = execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim();
  fs.writeFileSync(
    path.join(bin, 'docker'),
    `#!/bin/bash
if [ "$1" = buildx ]; then
  shift
  case "\${1:-}" in
    "") echo "Usage: docker buildx"; exit 0 ;;
    version) echo "github.com/docker/buildx v0.20.0 0123456"; exit 0 ;;
    inspect) printf 'Name:   builder-1\\nDriver: ${driver}\\n\\nNodes:\\nName:     builder-10\\nStatus:   running\\n'; exit 0 ;;
    build)
      shift
      for ((i = 1; i <= $#; i++)); do [ "\${!i}" = --metadata-file ] && { j=$((i + 1)); meta=\${!j}; }; done
      ${build}
      exit $? ;;
  esac
  exit 1
fi
exec ${realDocker} "$@"
`,
    { mode: 0o755 },
  );
  return bin;
}

describe('Dockerfile build through buildx (GitHub-hosted runners)', () => {
  // buildx cannot be installed here (no internet), so a stand-in `docker buildx` answers
  // @docker/actions-toolkit's probes, records how it was called, and reports as pushed an
  // image the test pushed first. Everything else (detection through the toolkit, the
  // metadata file, tags, outputs) is the real code path.
  it('finds buildx through the toolkit, passes SOURCE_DATE_EPOCH, takes the digest from the metadata file', async () => {
    const pushed = await runAction('build', {
      image: `${registry.host}/buildx/web`,
      context,
      'source-date-epoch': '1700000000',
      files: 'site/:/www/',
    });
    expect(pushed.code, pushed.log).toBe(0);
    const bin = fakeBuildx(
      'docker-container',
      `printf '%s\\n' "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" "$@" > "\${0%/*}/calls"
      printf '{"containerimage.digest":"%s"}' "${pushed.outputs['digest']}" > "$meta"`,
    );
    const r = await runAction(
      'build',
      {
        image: `${registry.host}/buildx/web`,
        context,
        tags: 'from-buildx',
        'source-date-epoch': '1700000000',
      },
      { env: { ...env, PATH: `${bin}:${process.env['PATH']}` } },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.log).toContain('Building with buildx/0.20.0 (docker-container driver)');
    const calls = fs.readFileSync(path.join(bin, 'calls'), 'utf8').split('\n');
    expect(calls[0]).toBe('SOURCE_DATE_EPOCH=1700000000');
    expect(calls).toContain('--provenance=false');
    expect(calls).toContain(path.join(fs.realpathSync(context), 'Dockerfile'));
    expect(calls.find((c) => c.startsWith('type=image,'))).toContain(
      `name=${registry.host}/buildx/web,push-by-digest=true`,
    );
    expect(r.outputs['digest']).toBe(pushed.outputs['digest']);
    expect(r.outputs['cache-hit']).toBe('false');
    expect(sha256(skopeoRaw(`${registry.host}/buildx/web:from-buildx`))).toBe(pushed.outputs['digest']);
    expect(
      sha256(skopeoRaw(`${registry.host}/buildx/web:anew-inputs-${r.outputs['inputs-digest']!.slice(7)}`)),
    ).toBe(pushed.outputs['digest']);
  });

  it('on the docker driver (buildx without setup-buildx-action), takes the digest the registry serves under the tag the engine pushed', async () => {
    const pushed = await runAction('build', {
      image: `${registry.host}/buildx/source`,
      context,
      'source-date-epoch': '1700000001',
      files: 'site/:/www/',
    });
    expect(pushed.code, pushed.log).toBe(0);
    // The engine pushes by tag (the stand-in copies a real image there) and buildx reports another
    // digest, as a config digest would be: the registry's answer is what counts.
    const bin = fakeBuildx(
      'docker',
      `printf '%s\\n' "$@" > "\${0%/*}/calls"
      name=$(printf '%s\\n' "$@" | sed -n 's/^type=image,.*name=\\([^,]*\\).*/\\1/p')
      skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://${pushed.outputs['image']}" "docker://$name" >&2 || exit 1
      printf '{"containerimage.digest":"sha256:%064d"}' 0 > "$meta"`,
    );
    const r = await runAction(
      'build',
      { image: `${registry.host}/buildx/engine-pushed`, context, 'source-date-epoch': '1700000001' },
      { env: { ...env, PATH: `${bin}:${process.env['PATH']}` } },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.log).toContain('Building with buildx/0.20.0 (docker driver)');
    const calls = fs.readFileSync(path.join(bin, 'calls'), 'utf8').split('\n');
    const output = calls.find((c) => c.startsWith('type=image,'));
    expect(output).toBe(
      `type=image,name=${registry.host}/buildx/engine-pushed:anew-inputs-${r.outputs['inputs-digest']!.slice(7)},push=true`,
    );
    expect(r.outputs['digest']).toBe(pushed.outputs['digest']);
    expect(sha256(skopeoRaw(r.outputs['image']!))).toBe(pushed.outputs['digest']);
  });

  it('builds on the base digest the inputs-digest holds, even when the tag moves during the build', async () => {
    // Two bases; the tag starts on the first and the stand-in moves it to the second mid-build.
    const one = await runAction('build', {
      image: `${registry.host}/bases/one`,
      context,
      files: 'site/:/one/',
    });
    const two = await runAction('build', {
      image: `${registry.host}/bases/two`,
      context,
      files: 'site/:/two/',
    });
    expect(one.code, one.log).toBe(0);
    expect(two.code, two.log).toBe(0);
    execFileSync('skopeo', [
      'copy',
      '-q',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${one.outputs['image']}`,
      `docker://${registry.host}/bases/moving:v1`,
    ]);
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-pinned-'));
    cleanup.push(() => fs.rmSync(ctx, { recursive: true, force: true }));
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${registry.host}/bases/moving:v1\nCOPY a /a\n`);
    fs.writeFileSync(path.join(ctx, 'a'), 'a');
    // The tag moves first; then the Dockerfile the builder was given is kept for the test to read, and the
    // image is left where a BuildKit push by digest leaves it.
    const bin = fakeBuildx(
      'docker-container',
      `skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://${two.outputs['image']}" "docker://${registry.host}/bases/moving:v1" >&2 || exit 1
      for ((i = 1; i <= $#; i++)); do [ "\${!i}" = --file ] && { j=$((i + 1)); cp "\${!j}" "\${0%/*}/Dockerfile.seen"; }; done
      skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://${one.outputs['image']}" "docker://${registry.host}/buildx/pinned:stand-in" >&2 || exit 1
      printf '{"containerimage.digest":"%s"}' "${one.outputs['digest']}" > "$meta"`,
    );
    const r = await runAction(
      'build',
      { image: `${registry.host}/buildx/pinned`, context: ctx },
      { env: { ...env, PATH: `${bin}:${process.env['PATH']}` } },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['base-digest']).toBe(one.outputs['digest']);
    expect(fs.readFileSync(path.join(bin, 'Dockerfile.seen'), 'utf8')).toBe(
      `FROM ${registry.host}/bases/moving@${one.outputs['digest']}\nCOPY a /a\n`,
    );
    // The user's Dockerfile is untouched.
    expect(fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8')).toContain('moving:v1');
  });
});
