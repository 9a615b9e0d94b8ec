import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../packages/cli/src/main.ts';
import { workflowEnv } from './fixtures/sigstore/workflow-env.ts';
import { NODE24, repoRoot } from './helpers/action.ts';
import { services } from './helpers/services.ts';

/** The committed `anew` command: the same actions from a terminal, inputs as options. */
const CLI = path.join(repoRoot, 'dist/cli/index.cjs');

function anew(args: string[], opts: { node?: string; env?: Record<string, string>; input?: string } = {}) {
  const r = spawnSync(opts.node ?? process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input: opts.input ?? '',
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
    expect(r.stderr).toMatch(
      /--registry-password on the command line is visible to anyone who lists processes/,
    );
  });

  it('takes a password from standard input or ANEW_REGISTRY_PASSWORD, so no flag shows it', () => {
    const { host, username, password } = services.authRegistry;
    const args = buildArgs().map((a) => (a === repo() ? `${host}/anew-cli/secret-${process.pid}` : a));
    const piped = anew([...args, '--registry-username', username, '--registry-password-stdin'], {
      input: `${password}\n`,
    });
    expect(piped.code, piped.stderr).toBe(0);
    const fromEnv = anew([...args, '--registry-username', username], {
      env: { ANEW_REGISTRY_PASSWORD: password },
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.outputs['cache-hit']).toBe('true');
    expect(piped.stderr + fromEnv.stderr).not.toMatch(/visible to anyone/);
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

  it('prints one JSON object of the outputs with --json, and takes every form of a switch', () => {
    const j = anew([...buildArgs(), '--json']);
    expect(j.code, j.stderr).toBe(0);
    const o = JSON.parse(j.stdout) as Record<string, unknown>;
    expect(o['image']).toBe(`${repo()}@${o['digest']}`);
    expect(o['cache-hit']).toBe(true);
    expect(o['tags']).toEqual([]);
    for (const off of [['--no-cache'], ['--cache=false'], ['--cache', 'false']]) {
      const r = anew([...buildArgs(), ...off, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as Record<string, unknown>)['cache-hit'], off.join(' ')).toBe(false);
    }
  });

  it('shows progress on a terminal and none in a pipe', () => {
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const line = [process.execPath, CLI, ...buildArgs()].map(quote).join(' ');
    // util-linux script gives the command a pseudo-terminal; its output is what the terminal shows.
    const tty = spawnSync('script', ['-qec', line, '/dev/null'], { encoding: 'utf8', env: process.env });
    expect(tty.status, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/\r\x1b\[K… Inputs \d+\.\ds/);
    expect(tty.stdout).toMatch(/ {2}Inputs: \d+\.\ds/);
    const piped = anew(buildArgs());
    expect(piped.code).toBe(0);
    expect(piped.stdout + piped.stderr).not.toMatch(/\x1b\[K|… Inputs/);
  });
});

/** Every usage mistake: its message, the stream it goes to, and exit code 2; a failure of the work exits 1. */
describe('anew CLI usage errors', () => {
  const PINNED = `127.0.0.1:9/none@sha256:${'0'.repeat(64)}`;
  const table: [string, string[], RegExp, number][] = [
    ['no command', [], /Usage: anew <command>/, 2],
    ['an unknown command', ['nope'], /unknown command "nope"\. Run "anew --help"/, 2],
    ['a mistyped command', ['delpoy'], /unknown command "delpoy"\. Did you mean "deploy"\?/, 2],
    [
      'a missing required option',
      ['deploy', '--environment', 'x'],
      /--image is required\. See anew deploy --help/,
      2,
    ],
    ['an unknown option', ['flip', '--environment', 'x', '--colour', 'blue'], /unknown option --colour/, 2],
    [
      'a mistyped option',
      ['flip', '--enviroment', 'x'],
      /unknown option --enviroment\. Did you mean --environment\?/,
      2,
    ],
    ['an option without its value', ['flip', '--environment'], /option --environment needs a value/, 2],
    [
      'a switch with a bad value',
      ['build', '--image', 'r/x', '--cache=maybe'],
      /--cache is "maybe", not a boolean/,
      2,
    ],
    [
      'a tag for a digest',
      ['deploy', '--environment', 'x', '--image', '127.0.0.1:9/x:v1'],
      /--image .*is not pinned by digest/,
      2,
    ],
    [
      'a line break in a one-line option',
      ['deploy', '--environment', 'x', '--image', PINNED, '--health-path', '/\n::error::INJECTED'],
      /--health-path holds a line break: "\/\\n::error::INJECTED"/,
      2,
    ],
    [
      'a URL with credentials',
      ['flip', '--environment', 'x', '--target', 't', '--router-url', 'http://a:b@h:1'],
      /--router-url carries a user name or password/,
      2,
    ],
    [
      'keyless signing without an OIDC token, on a terminal',
      ['attest', '--image', PINNED],
      /keyless signing needs the job's OIDC token, and there is none here\. Sign with a key: --signing-key-file PATH/,
      2,
    ],
    [
      'a failure of the work',
      [
        'verify',
        '--image',
        PINNED,
        '--public-key',
        crypto
          .generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
          .publicKey.export({ type: 'spki', format: 'pem' })
          .toString(),
      ],
      /anew verify: .*127\.0\.0\.1:9/,
      1,
    ],
  ];

  it.each(table)('%s', (_what, args, message, code) => {
    const r = anew(args, { env: { ACTIONS_ID_TOKEN_REQUEST_URL: '' } });
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expect(r.stdout + r.stderr).not.toMatch(/^::error::INJECTED/m);
  });

  it('--version and --help on stdout, exit 0; the list has every command', () => {
    expect(anew(['--version'])).toMatchObject({ code: 0, stdout: 'anew 0.1.0\n', stderr: '' });
    const h = anew(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Examples:\n {2}anew ship/);
    expect(h.stdout).toMatch(/\n {2}promote +copy an image with its provenance/);
    const ship = anew(['ship', '--help']);
    expect(ship.stdout).toMatch(/\nBuild:|\nImage:\n/);
    expect(ship.stdout.split('\n').length).toBeLessThan(100);
    // The finer groups fold into one line; --help-all lists every option.
    expect(ship.stdout).toMatch(/^More: .*Provenance policy \(\d+\).*anew ship --help-all/m);
    const all = anew(['ship', '--help-all']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('--cache-public-key');
    expect(all.stdout).not.toMatch(/^More: /m);
  });

  it('leaves process.env as it was after every command', async () => {
    const env = { ...process.env };
    for (const [, args] of table.filter(([, , , code]) => code === 2)) await cli(args);
    await cli(['--version']);
    await cli(['build', '--help']);
    await cli([
      ...['build', '--image', `${services.registry}/anew-cli/env-${process.pid}`],
      '--files',
      'nope:/x',
    ]);
    expect({ ...process.env }).toEqual(env);
  });
});
