import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/action.ts';
import { services } from './helpers/services.ts';

/**
 * `anew` as a user installs it: the tarball `npm pack` makes (what `npm
 * publish` would upload), installed into a project of its own, far from this
 * clone, then run through npx. The bundles are self-contained, so the install
 * needs nothing from the registry (it runs offline) and brings one package.
 */
let tmp: string;
let project: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-pack-'));
  const packed = execFileSync('npm', ['pack', repoRoot, '--pack-destination', tmp, '--silent'], {
    encoding: 'utf8',
  }).trim();
  project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }),
  );
  execFileSync(
    'npm',
    [
      'install',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--silent',
      path.join(tmp, packed.split('\n').pop()!),
    ],
    { cwd: project, stdio: 'pipe' },
  );
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function npx(args: string[]) {
  // Run from the project: npx finds the installed bin, not this clone's.
  return spawnSync('npx', ['--no-install', 'anew', ...args], {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, GITHUB_OUTPUT: '' },
  });
}

describe('the published package', () => {
  it('installs as one package with no dependencies to fetch', () => {
    const installed = fs.readdirSync(path.join(project, 'node_modules')).filter((n) => !n.startsWith('.'));
    expect(installed).toEqual(['anew']);
    const files = fs.readdirSync(path.join(project, 'node_modules/anew'));
    expect(files).toEqual(
      expect.arrayContaining(['LICENSE', 'README.md', 'action.yml', 'dist', 'package.json']),
    );
  });

  it('answers --help through npx', () => {
    const r = npx(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: anew <command>/);
  });

  it('builds and pushes an image from the installed copy', () => {
    const ctx = path.join(tmp, 'ctx');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'hello.txt'), 'hello from an installed anew\n');
    const r = npx([
      'build',
      '--image',
      `${services.registry}/anew-pack/hello-${process.pid}`,
      '--context',
      ctx,
      '--files',
      'hello.txt:/hello.txt',
      '--source-date-epoch',
      '1700000000',
    ]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    const digest = /^digest=(sha256:[0-9a-f]{64})$/m.exec(r.stdout)?.[1];
    expect(digest).toBeDefined();
    // The registry holds what was printed: an independent client reads it by digest.
    const inspected = execFileSync(
      'skopeo',
      [
        'inspect',
        '--tls-verify=false',
        '--raw',
        `docker://${services.registry}/anew-pack/hello-${process.pid}@${digest}`,
      ],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(inspected).layers).toHaveLength(1);
  });
});
