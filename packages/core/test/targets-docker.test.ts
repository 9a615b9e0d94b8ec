import { describe, expect, it } from 'vitest';
import { engineHostName } from '../src/targets/docker/address.ts';
import {
  isCliVariable,
  listArgs,
  pullArgs,
  type RunArgs,
  removeArgs,
  removeImageArgs,
  runArgs,
} from '../src/targets/docker/argv.ts';
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
      what: 'host network, a value inline and a passed variable, limits',
      args: {
        name: 'anew-web-production-aaaaaaaaaaaa-abcdef',
        image: meta.image,
        labels: { b: '2', a: '1' },
        network: 'host',
        inlineEnv: { PORT: '20001' },
        passEnv: ['DATABASE_URL'],
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
        '--env',
        'DATABASE_URL',
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
        passEnv: [],
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

  it.each([
    ['PATH', true],
    ['DOCKER_HOST', true],
    ['SSH_AUTH_SOCK', true],
    ['DATABASE_URL', false],
    ['PORT', false],
  ])('%s is a variable of the docker CLI itself: %s', (name, cli) => {
    expect(isCliVariable(name)).toBe(cli);
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
