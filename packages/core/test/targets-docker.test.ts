import { describe, expect, it } from 'vitest';
import { Exec, ExecError, type ExecResult } from '../src/exec/index.ts';
import type { Logger } from '../src/log/index.ts';
import { engineHostName } from '../src/targets/docker/address.ts';
import {
  envFileText,
  listArgs,
  pullArgs,
  type RunArgs,
  removeArgs,
  removeImageArgs,
  runArgs,
} from '../src/targets/docker/argv.ts';
import { DockerEngine } from '../src/targets/docker/engine.ts';
import {
  byRelease,
  LABELS,
  labelsOf,
  metaFromLabels,
  type ReleaseMeta,
  type Target,
} from '../src/targets/index.ts';

const meta: ReleaseMeta = {
  app: 'web',
  environment: 'production',
  image: `ghcr.io/acme/web@sha256:${'a'.repeat(64)}`,
  digest: `sha256:${'a'.repeat(64)}`,
  release: '20261126-120000-abcdef',
  created: '2026-11-26T12:00:00.000Z',
  healthPath: '/health',
  commit: '0123abc',
  runUrl: 'https://github.com/acme/web/actions/runs/1',
};

describe('docker argv', () => {
  it.each([
    {
      what: 'host network, PORT inline, the app variables in a file, limits',
      args: {
        name: 'anew-web-production-aaaaaaaaaaaa-abcdef',
        image: meta.image,
        labels: { b: '2', a: '1' },
        network: 'host',
        inlineEnv: { PORT: '20001' },
        envFile: '/tmp/anew-env-x/env',
        memory: '256m',
        cpus: '0.5',
      },
      want: [
        'run',
        '--detach',
        '--name',
        'anew-web-production-aaaaaaaaaaaa-abcdef',
        '--restart',
        'unless-stopped',
        '--network',
        'host',
        '--label',
        'a=1',
        '--label',
        'b=2',
        '--env',
        'PORT=20001',
        '--env-file',
        '/tmp/anew-env-x/env',
        '--memory',
        '256m',
        '--cpus',
        '0.5',
        meta.image,
      ],
    },
    {
      what: 'named network, no limits',
      args: {
        name: 'n',
        image: 'i@sha256:x',
        labels: {},
        network: 'edge',
        inlineEnv: { PORT: '8080' },
      },
      want: [
        'run',
        '--detach',
        '--name',
        'n',
        '--restart',
        'unless-stopped',
        '--network',
        'edge',
        '--env',
        'PORT=8080',
        'i@sha256:x',
      ],
    },
  ] as { what: string; args: RunArgs; want: string[] }[])('run: $what', ({ args, want }) => {
    expect(runArgs(args)).toEqual(want);
  });

  it.each([
    [
      { app: 'web' },
      ['ps', '--all', '--no-trunc', '--format', '{{.ID}}', '--filter', 'label=dev.anew.app=web'],
    ],
    [
      { app: 'web', environment: 'pr-7' },
      [
        'ps',
        '--all',
        '--no-trunc',
        '--format',
        '{{.ID}}',
        '--filter',
        'label=dev.anew.app=web',
        '--filter',
        'label=dev.anew.environment=pr-7',
      ],
    ],
    [{}, ['ps', '--all', '--no-trunc', '--format', '{{.ID}}', '--filter', 'label=dev.anew.app']],
  ])('list %j', (filter, want) => {
    expect(listArgs(filter)).toEqual(want);
  });

  it('pulls by digest quietly and removes with volumes', () => {
    expect(pullArgs(meta.image)).toEqual(['pull', '--quiet', meta.image]);
    expect(removeArgs('n')).toEqual(['rm', '--force', '--volumes', 'n']);
    expect(removeImageArgs('sha256:abc')).toEqual(['image', 'rm', 'sha256:abc']);
  });

  it('writes app variables, whatever their name, as an env file; refuses a line break before anything runs', () => {
    expect(envFileText({ DOCKER_SECRETY: 's3cr=t', PATH: '/x', API: ' spaced ' })).toBe(
      'DOCKER_SECRETY=s3cr=t\nPATH=/x\nAPI= spaced \n',
    );
    expect(envFileText({})).toBe('');
    expect(() => envFileText({ KEY: 'a\nOTHER=b' })).toThrow(/env KEY holds a line break/);
    expect(() => envFileText({ KEY: 'a\rb' })).toThrow(/line break/);
    expect(() => envFileText({ 'BAD NAME': 'x' })).toThrow(/not a valid variable name/);
  });
});

describe('engine addresses', () => {
  it.each([
    ['', '127.0.0.1'],
    ['unix:///var/run/docker.sock', '127.0.0.1'],
    ['tcp://10.0.0.5:2376', '10.0.0.5'],
    ['tcp://[::1]:2376', '::1'],
    ['ssh://deploy@web-1.example', { sshAlias: 'web-1.example' }],
  ])('%s → %j', (host, want) => {
    expect(engineHostName(host)).toEqual(want);
  });

  it('refuses what is not an engine URL', () => {
    expect(() => engineHostName('ftp://x')).toThrow(/uses ftp:.*Use unix:\/\/, tcp:\/\/ or ssh:\/\//);
    expect(() => engineHostName('web-1')).toThrow(/is not a URL/);
  });
});

describe('labels', () => {
  it('round-trips release metadata through labels', () => {
    const labels = labelsOf(meta, '127.0.0.1:20001');
    expect(labels[LABELS.address]).toBe('127.0.0.1:20001');
    expect(metaFromLabels(labels)).toEqual(meta);
  });

  it('leaves out what is unknown, and ignores containers that are not anew targets', () => {
    const labels = labelsOf({ ...meta, commit: undefined, runUrl: undefined }, 'a:1');
    expect(Object.keys(labels)).not.toContain(LABELS.commit);
    expect(metaFromLabels({ 'com.example': 'x' })).toBeUndefined();
    expect(metaFromLabels(null)).toBeUndefined();
  });

  it('groups targets by release, newest first', () => {
    const t = (release: string, created: string, engine: string): Target => ({
      name: `n-${release}`,
      engine,
      address: '',
      url: '',
      state: 'running',
      imageId: '',
      meta: { ...meta, release, created },
    });
    const groups = byRelease([
      t('r1', '2026-01-01', 'a'),
      t('r2', '2026-02-01', 'a'),
      t('r1', '2026-01-01', 'b'),
    ]);
    expect([...groups.keys()]).toEqual(['r2', 'r1']);
    expect(groups.get('r1')!.map((x) => x.engine)).toEqual(['a', 'b']);
  });
});

describe('the engine when the docker CLI fails', () => {
  it('refuses to start a target when the containers cannot be listed (the port check would be blind)', async () => {
    const ran: string[][] = [];
    class FailingPs extends Exec {
      override async run(command: string, args: readonly string[]): Promise<ExecResult> {
        ran.push([command, ...args]);
        if (args[0] === 'ps')
          throw new ExecError('docker ps failed (exit 1): Cannot connect to the Docker daemon', {
            code: 1,
            stdout: '',
            stderr: 'Cannot connect to the Docker daemon',
          });
        return { code: 0, stdout: '', stderr: '' };
      }
    }
    const log = {
      debug() {},
      info() {},
      warning() {},
      error() {},
      group: (_n: string, f: () => Promise<unknown>) => f(),
      setSecret() {},
    } as unknown as Logger;
    const engine = new DockerEngine({
      host: 'unix:///nowhere.sock',
      network: 'host',
      exec: new FailingPs(),
      log,
    });
    await expect(
      engine.start({ meta, name: 'anew-web-production-aaaaaaaaaaaa-abcdef', port: 8080, env: {} }),
    ).rejects.toThrow(/did not list its containers, so no free port could be chosen safely .*Cannot connect/);
    expect(ran.some((a) => a[1] === 'run')).toBe(false);
  });
});
