import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { NODE24, repoRoot } from './helpers/action.ts';
import { services } from './helpers/services.ts';

/** The committed `anew` command: the same actions from a terminal, inputs as options. */
const CLI = path.join(repoRoot, 'dist/cli/index.cjs');

function anew(args: string[], opts: { node?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(opts.node ?? process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GITHUB_OUTPUT: '', ...opts.env },
  });
  const outputs = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => /^[a-z-]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, outputs };
}

const definedOnly = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));

let ctx: string;
beforeAll(() => {
  ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-cli-'));
  fs.cpSync(path.join(repoRoot, 'test/fixtures/sample-app'), ctx, { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
});
afterAll(() => fs.rmSync(ctx, { recursive: true, force: true }));

describe('anew CLI', () => {
  const repo = () => `${services.registry}/anew-cli/sample-${process.pid}`;
  const buildArgs = () => [
    'build',
    '--image',
    repo(),
    '--context',
    ctx,
    '--files',
    'busybox:/bin/busybox',
    '--files',
    'site/:/www/',
    '--cmd',
    '["/bin/busybox","httpd","-f","-p","8080","-h","/www"]',
    '--source-date-epoch',
    '1700000000',
  ];

  it('builds like the action, the same digest under Node 20 and Node 24, and prints the outputs', () => {
    const a = anew(buildArgs());
    expect(a.stderr).not.toMatch(/error/);
    expect(a.code).toBe(0);
    expect(a.outputs['digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.outputs['image']).toBe(`${repo()}@${a.outputs['digest']}`);
    const b = anew([...buildArgs(), '--cache=false'], { node: NODE24 });
    expect(b.code).toBe(0);
    expect(b.outputs['cache-hit']).toBe('false');
    expect(b.outputs['digest']).toBe(a.outputs['digest']);
  });

  it('refuses what the action refuses, with the same message, as a usage error (exit 2)', () => {
    const v = anew(['verify', '--image', `${repo()}:latest`]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/--image .*not pinned by digest/);
    const u = anew(['build', '--image', repo(), '--bogus', 'x']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/unknown option --bogus/);
  });

  it('never prints a password given as an option', () => {
    const secret = 'cli-secret-password-123';
    const { host, username } = services.authRegistry;
    const r = anew([
      ...buildArgs().map((a) => (a === repo() ? `${host}/anew-cli/x` : a)),
      '--registry-username',
      username,
      '--registry-password',
      secret,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/401/);
    expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('leaves the files an action writes for later steps (the attestation bundle) in place', () => {
    const key = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const built = anew(buildArgs());
    const a = anew(
      [
        'attest',
        '--image',
        built.outputs['image']!,
        '--signing-key',
        key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      ],
      // As in a job, but with no RUNNER_TEMP: the command picks a folder that outlives it.
      { env: { ...definedOnly(workflowEnv()), RUNNER_TEMP: '' } },
    );
    expect(a.code, a.stderr).toBe(0);
    expect(fs.existsSync(a.outputs['bundle-path']!)).toBe(true);
    expect(a.stdout + a.stderr).not.toContain('PRIVATE KEY');
  });

  it('lists the inputs of an action as options in --help', () => {
    const h = anew(['attest', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(
      /--signing-key, --signing-key-file PATH, --signing-key-stdin\n +PEM ECDSA P-256 private key to sign with \(or \$ANEW_SIGNING_KEY\)/,
    );
    expect(h.stdout).toMatch(
      /--image VALUE +Image to attest, pinned by digest \(repository@sha256:…\) \(required\)/,
    );
  });
});
