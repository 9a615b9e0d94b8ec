import { describe, expect, it } from 'vitest';
import {
  checkConfig,
  DEFAULT_SETTINGS,
  parseSetting,
  resolveSettings,
  type Settings,
} from '../src/config/index.ts';
import { Exec, type ExecResult } from '../src/exec/index.ts';
import { type Logger, MemoryLogger } from '../src/log/index.ts';
import { enginesFor } from '../src/release/infra.ts';
import type { ReleaseMeta } from '../src/targets/index.ts';
import { serviceCreateArgs, serviceListArgs } from '../src/targets/swarm/argv.ts';
import { SwarmEngine } from '../src/targets/swarm/engine.ts';
import { checkReplicas, parseBlock, portOf, portTemplate } from '../src/targets/swarm/ports.ts';

const log: Logger = new MemoryLogger();

const meta: ReleaseMeta = {
  app: 'web',
  environment: 'production',
  image: `ghcr.io/acme/web@sha256:${'a'.repeat(64)}`,
  digest: `sha256:${'a'.repeat(64)}`,
  release: '20261126-120000-abcdef',
  created: '2026-11-26T12:00:00.000Z',
  healthPath: '/health',
};

/** Records every command and answers none: a refusal must come before any of them. */
class Recording extends Exec {
  readonly ran: string[][] = [];
  override async run(command: string, args: readonly string[]): Promise<ExecResult> {
    this.ran.push([command, ...args]);
    return { code: 0, stdout: '', stderr: '' };
  }
}

describe('swarm ports', () => {
  it('joins the block and the slot, as the service template does', () => {
    expect(portTemplate(1234)).toBe('1234{{.Task.Slot}}');
    expect([1, 2, 9].map((s) => portOf(1234, s))).toEqual([12341, 12342, 12349]);
  });
  it.each([0, 10, 1.5])('refuses %s replicas, which the block cannot hold', (n) => {
    expect(() => checkReplicas(n)).toThrow(/holds 1 to 9 tasks/);
  });
  it.each([
    ['1000', 1000],
    ['1999', 1999],
    ['999', undefined],
    ['2000', undefined],
    [undefined, undefined],
    ['x', undefined],
  ])('reads the block label %s as %s', (label, want) => {
    expect(parseBlock(label)).toBe(want);
  });
});

describe('swarm argv', () => {
  it('creates a detached service on the host network, labels on service and containers, env by file', () => {
    expect(
      serviceCreateArgs({
        name: 'anew-web-production-aaaaaaaaaaaa-abcdef',
        image: meta.image,
        replicas: 2,
        labels: { b: '2', a: '1' },
        inlineEnv: { PORT: portTemplate(1234) },
        envFile: '/tmp/anew-swarm-x/env',
        constraints: ['node.role==worker', 'node.labels.zone==a'],
        memory: '256m',
        cpus: '0.5',
        withRegistryAuth: true,
      }),
    ).toEqual([
      'service',
      'create',
      '--detach',
      '--quiet',
      '--name',
      'anew-web-production-aaaaaaaaaaaa-abcdef',
      '--network',
      'host',
      '--replicas',
      '2',
      '--placement-pref',
      'spread=node.id',
      '--no-resolve-image',
      '--label',
      'a=1',
      '--container-label',
      'a=1',
      '--label',
      'b=2',
      '--container-label',
      'b=2',
      '--env',
      'PORT=1234{{.Task.Slot}}',
      '--env-file',
      '/tmp/anew-swarm-x/env',
      '--constraint',
      'node.role==worker',
      '--constraint',
      'node.labels.zone==a',
      '--limit-memory',
      '256m',
      '--limit-cpu',
      '0.5',
      '--with-registry-auth',
      meta.image,
    ]);
  });
  it('lists the services of an app and environment by label', () => {
    expect(serviceListArgs({ app: 'web', environment: 'pr-1' })).toEqual([
      'service',
      'ls',
      '--quiet',
      '--filter',
      'label=dev.anew.app=web',
      '--filter',
      'label=dev.anew.environment=pr-1',
    ]);
  });
});

describe('SwarmEngine.start refuses bad input before any command', () => {
  const cases: { what: string; spec: Partial<Parameters<SwarmEngine['start']>[0]>; error: RegExp }[] = [
    {
      what: 'a tag',
      spec: { meta: { ...meta, image: 'ghcr.io/acme/web:1.0' } },
      error: /not pinned by digest/,
    },
    { what: 'ten replicas', spec: { replicas: 10 }, error: /holds 1 to 9 tasks/ },
    { what: 'a multi-line env value', spec: { env: { KEY: 'a\nb' } }, error: /line break/ },
  ];
  it.each(cases)('$what', async ({ spec, error }) => {
    const exec = new Recording();
    const engine = new SwarmEngine({ host: 'unix:///nowhere.sock', exec, log });
    await expect(engine.start({ meta, name: 'n', port: 8080, env: {}, ...spec })).rejects.toThrow(error);
    expect(exec.ran).toEqual([]);
  });
});

describe('SwarmEngine on an engine that is no manager', () => {
  it('says so, and what docker-host must name, before creating anything', async () => {
    class NoManager extends Exec {
      readonly ran: string[][] = [];
      override async run(command: string, args: readonly string[]): Promise<ExecResult> {
        this.ran.push([command, ...args]);
        return {
          code: 1,
          stdout: '',
          stderr:
            'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
        };
      }
    }
    const exec = new NoManager();
    const engine = new SwarmEngine({ host: 'tcp://worker:2376', exec, log });
    await expect(engine.start({ meta, name: 'n', port: 8080, env: {} })).rejects.toThrow(
      /tcp:\/\/worker:2376 did not list its swarm services: .*not a swarm manager/,
    );
    await expect(engine.list({ app: 'web' })).rejects.toThrow(/not a swarm manager/);
    expect(exec.ran.map((a) => a.slice(1, 3).join(' '))).toEqual(['service ls', 'service ls']);
  });
});

describe('driver swarm in settings', () => {
  const s = (extra: Partial<Settings>): Settings => ({ ...DEFAULT_SETTINGS, driver: 'swarm', ...extra });
  it('is one SwarmEngine on the manager named by docker-host', () => {
    const engines = enginesFor(s({ 'docker-host': ['ssh://ops@manager'] }), log);
    expect(engines).toHaveLength(1);
    expect(engines[0]).toBeInstanceOf(SwarmEngine);
    expect(engines[0]!.id).toBe('ssh://ops@manager');
  });
  it('refuses two managers and a named network', () => {
    expect(() => enginesFor(s({ 'docker-host': ['tcp://a:2376', 'tcp://b:2376'] }), log)).toThrow(
      /takes one docker-host \(a manager\), not 2/,
    );
    expect(() => enginesFor(s({ network: 'web' }), log)).toThrow(/host network, not "web"/);
  });
});

describe('the swarm keys of anew.yml', () => {
  const doc = (settings: Record<string, unknown>) => ({ app: 'web', environments: { production: settings } });
  it('accepts driver swarm with replicas and constraints, and parses them', () => {
    expect(() =>
      checkConfig(doc({ driver: 'swarm', replicas: 3, constraints: ['node.role==worker'] })),
    ).not.toThrow();
    expect(parseSetting('replicas', '3', 'replicas')).toBe(3);
    expect(parseSetting('constraints', 'node.role==worker\n\nnode.labels.zone==a\n', 'constraints')).toEqual([
      'node.role==worker',
      'node.labels.zone==a',
    ]);
    expect(parseSetting('driver', 'swarm', 'driver')).toBe('swarm');
  });
  it('refuses more replicas than a port block holds, in the file and in an input, for swarm only', () => {
    const swarm = /replicas is 10, but a Swarm release holds 1 to 9 tasks/;
    expect(() => resolveSettings(doc({ driver: 'swarm', replicas: 10 }), 'production', {})).toThrow(swarm);
    expect(() => resolveSettings(doc({ driver: 'swarm' }), 'production', { replicas: 10 })).toThrow(swarm);
    // Kubernetes pods have no port block.
    expect(resolveSettings(doc({ driver: 'kubernetes', replicas: 10 }), 'production', {}).replicas).toBe(10);
    expect(() => parseSetting('replicas', '1001', 'input replicas')).toThrow(/input replicas is "1001"/);
  });
});
