import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { services } from '../../../test/helpers/services.ts';
import { DEFAULT_SETTINGS, type Settings } from '../src/config/index.ts';
import { probe } from '../src/health/index.ts';
import { silentLogger } from '../src/log/index.ts';
import { infraFor, withInfra } from '../src/release/infra.ts';
import { CaddyRouter } from '../src/routers/caddy/index.ts';
import { HaproxyRouter } from '../src/routers/haproxy/index.ts';

const settings = (s: Partial<Settings>): Settings => ({ ...DEFAULT_SETTINGS, ...s });

describe('the infrastructure an action works on', () => {
  it('builds the router the settings name, with each router’s own defaults', async () => {
    const caddy = infraFor(settings({}), silentLogger);
    expect(caddy.router).toBeInstanceOf(CaddyRouter);
    expect(caddy.router.publicUrl(':8080')).toBe('http://127.0.0.1:8080');
    const haproxy = infraFor(settings({ router: 'haproxy' }), silentLogger);
    expect(haproxy.router).toBeInstanceOf(HaproxyRouter);
    expect((haproxy.router as HaproxyRouter).transport.url).toBe('unix:///run/haproxy-master.sock');
    expect((haproxy.router as HaproxyRouter).folder.dir).toBe('/etc/haproxy/anew.d');
    const remote = infraFor(
      settings({ router: 'haproxy', 'router-url': 'ssh://deploy@web1.invalid/run/haproxy-master.sock' }),
      silentLogger,
    );
    // A wildcard listen address is reached on the server's name, as clients reach it.
    expect(remote.router.publicUrl(':8080')).toBe('http://web1.invalid:8080');
    // An alias from ~/.ssh/config is reached on the host name it stands for.
    const alias = infraFor(
      settings({ router: 'haproxy', 'router-url': `${services.sshDockerHost}/run/haproxy-master.sock` }),
      silentLogger,
    );
    expect(alias.router.publicUrl(':8080')).toBe('http://127.0.0.1:8080');
    await Promise.all([caddy.close(), haproxy.close(), remote.close(), alias.close()]);
  });

  it('refuses what does not fit the router before connecting anywhere', () => {
    expect(() => infraFor(settings({ 'router-config': '/etc/haproxy/anew.d' }), silentLogger)).toThrow(
      /router-config is for HAProxy/,
    );
    expect(() =>
      infraFor(settings({ router: 'haproxy', 'router-url': 'http://127.0.0.1:2019' }), silentLogger),
    ).toThrow(/is not a socket/);
  });
});

describe('an engine over ssh', () => {
  let server: http.Server;
  let port = 0;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('through the server\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  /** ssh processes this test process started (its children: no one else's). */
  const sshClients = () =>
    execFileSync('ps', ['-eo', 'ppid=,args='], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([ppid, cmd]) => Number(ppid) === process.pid && cmd === 'ssh');

  it('checks targets from the server, and its ssh connection ends with the step, failed or not', async () => {
    expect(sshClients()).toEqual([]);
    const s = settings({ 'docker-host': [services.sshDockerHost] });
    const failed = withInfra(s, silentLogger, async (infra) => {
      const connect = infra.engines[0]!.connector;
      expect(connect).toBeDefined();
      // The server's own loopback: the address a target on the host network has there.
      const res = await probe(`http://127.0.0.1:${port}/`, { connect });
      expect(res).toMatchObject({ ok: true, status: 200 });
      expect(sshClients().length).toBeGreaterThan(0);
      throw new Error('the step failed');
    });
    await expect(failed).rejects.toThrow('the step failed');
    expect(sshClients()).toEqual([]);
  });
});
