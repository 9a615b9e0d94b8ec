import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runAction } from '../helpers/action.ts';

/**
 * The Dockerfile path against a real buildx, on a GitHub-hosted runner
 * (.github/workflows/e2e-buildx.yml): no buildx installs on the machine the
 * rest of the suite runs on, where a stand-in answers instead. Run with
 * ANEW_REAL_BUILDX=1 and ANEW_REAL_BUILDX_REGISTRY=<host:port of a registry>;
 * ANEW_REAL_BUILDX_DRIVER names the driver the workflow set up (docker, or
 * docker-container from docker/setup-buildx-action).
 */
const registry = process.env['ANEW_REAL_BUILDX_REGISTRY'] ?? 'localhost:5000';
const driver = process.env['ANEW_REAL_BUILDX_DRIVER'] ?? 'docker-container';
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The manifest bytes the registry serves for a reference (plain HTTP: the registry runs on the runner). */
async function manifestBytes(ref: string): Promise<Buffer> {
  const [repo, tagOrDigest] = ref.includes('@')
    ? ref.split('@')
    : [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  const name = repo!.slice(registry.length + 1);
  const res = await fetch(`http://${registry}/v2/${name}/manifests/${tagOrDigest}`, {
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  });
  if (!res.ok) throw new Error(`GET ${ref}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

let context: string;
beforeAll(() => {
  context = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-buildx-'));
  fs.cpSync(path.join(repoRoot, 'test/fixtures/sample-app'), context, { recursive: true });
  // The sample app's Dockerfile copies a static busybox in (Debian's and Ubuntu's busybox-static).
  fs.copyFileSync('/bin/busybox', path.join(context, 'busybox'));
});
afterAll(() => fs.rmSync(context, { recursive: true, force: true }));

describe(`Dockerfile build through a real buildx (${driver} driver)`, () => {
  const image = `${registry}/anew-buildx/${driver}`;
  let first: Awaited<ReturnType<typeof runAction>>;

  beforeAll(async () => {
    first = await runAction('build', { image, context, tags: 'v1', 'source-date-epoch': '1700000000' });
  }, 600_000);

  it('builds with buildx through the toolkit and outputs the digest the registry serves', async () => {
    expect(first.code, first.log).toBe(0);
    expect(first.log).toContain(`(${driver} driver)`);
    const digest = first.outputs['digest']!;
    expect(sha256(await manifestBytes(first.outputs['image']!))).toBe(digest);
    expect(sha256(await manifestBytes(`${image}:v1`))).toBe(digest);
    expect(
      sha256(await manifestBytes(`${image}:anew-inputs-${first.outputs['inputs-digest']!.slice(7)}`)),
    ).toBe(digest);
  });

  it('reuses the image when nothing changed', async () => {
    const again = await runAction('build', { image, context, 'source-date-epoch': '1700000000' });
    expect(again.code, again.log).toBe(0);
    expect(again.outputs['cache-hit']).toBe('true');
    expect(again.outputs['digest']).toBe(first.outputs['digest']);
  });

  it('rebuilds the same bytes without the cache on a BuildKit builder (rewrite-timestamp)', async () => {
    const cold = await runAction('build', {
      image,
      context,
      cache: 'false',
      'source-date-epoch': '1700000000',
    });
    expect(cold.code, cold.log).toBe(0);
    if (driver === 'docker') {
      // The engine's classic store neither rewrites timestamps nor writes OCI types: not reproducible,
      // as actions/build/README.md says. The image is still the one the registry serves.
      expect(sha256(await manifestBytes(cold.outputs['image']!))).toBe(cold.outputs['digest']);
    } else {
      expect(cold.outputs['digest']).toBe(first.outputs['digest']);
    }
  });

  it('serves the site from the pushed image', () => {
    const name = `anew-buildx-${process.pid}`;
    execFileSync('docker', ['run', '-d', '--name', name, '-p', '18080:8080', first.outputs['image']!]);
    try {
      let body = '';
      for (let i = 0; i < 50 && !body.includes('Hello from anew'); i++) {
        try {
          body = execFileSync('curl', ['-fsS', 'http://127.0.0.1:18080/'], { encoding: 'utf8' });
        } catch {
          execFileSync('sleep', ['0.2']);
        }
      }
      expect(body).toContain('Hello from anew');
    } finally {
      execFileSync('docker', ['rm', '-f', name]);
    }
  });
});
