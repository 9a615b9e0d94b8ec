import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminTransport, sshArgs } from '../packages/core/src/routers/admin-transport.ts';
import { CaddyRouter } from '../packages/core/src/routers/caddy/index.ts';
import { routerFor } from '../packages/core/src/routers/factory.ts';
import { HaproxyRouter, MasterCli } from '../packages/core/src/routers/haproxy/index.ts';
import { startBusyboxApp } from './fixtures/apps/busybox.ts';
import {
  freePort,
  type RunningHaproxy,
  type RunningService,
  services,
  startCaddy,
  startHaproxy,
} from './helpers/services.ts';

/**
 * The admin API reached as the engine is: through ssh (the runner's keys and
 * ~/.ssh/config, here the services' alias) to the server's loopback or a
 * socket, or over https with mutual TLS.
 */

describe('router-url forms', () => {
  it.each([
    ['http://127.0.0.1:2019', { kind: 'tcp', host: '127.0.0.1', port: 2019 }],
    ['https://web1:2019', { kind: 'tcp', host: 'web1', port: 2019 }],
    ['unix:///run/haproxy/master.sock', { kind: 'unix', path: '/run/haproxy/master.sock' }],
    ['ssh://deploy@web1/127.0.0.1:2019', { kind: 'tcp', host: '127.0.0.1', port: 2019 }],
    ['ssh://deploy@web1:2222/run/haproxy/master.sock', { kind: 'unix', path: '/run/haproxy/master.sock' }],
  ])('%s → %j', (url, address) => {
    expect(adminTransport(url).address).toEqual(address);
  });

  it.each([
    ['127.0.0.1:2019', /is not a URL/],
    ['ssh://deploy@web1', /does not say where the admin API is/],
    ['ssh://deploy@web1/localhost', /host:port/],
    ['ssh://deploy:pw@web1/127.0.0.1:2019', /must not carry a password/],
    ['ftp://web1:21', /uses ftp:/],
    ['http://127.0.0.1:2019/config', /has a path/],
  ])('refuses %s', (url, why) => {
    expect(() => adminTransport(url)).toThrow(why);
  });

  it('refuses TLS files for a URL that is not https, and a certificate without its key', () => {
    expect(() => adminTransport('http://127.0.0.1:2019', { ca: 'x' })).toThrow(
      /for an https:\/\/ router-url/,
    );
    expect(() => adminTransport('https://web1:2019', { cert: 'x' })).toThrow(/go together/);
  });

  it('runs ssh as the docker CLI does: agent and keys, no key input, port from the URL', () => {
    expect(
      sshArgs({ destination: 'deploy@web1', port: '2222', host: 'web1' }, '/tmp/x/control', ['-N']),
    ).toEqual([
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=15',
      '-o',
      'ControlPath=/tmp/x/control',
      '-p',
      '2222',
      '-N',
      'deploy@web1',
    ]);
  });
});

describe('through ssh to the server’s loopback', () => {
  let caddy: RunningService & { admin: string };
  let haproxy: RunningHaproxy;
  const alias = () => services.sshDockerHost.replace(/^ssh:\/\//, '');

  beforeAll(async () => {
    caddy = await startCaddy();
    haproxy = await startHaproxy();
  });
  afterAll(async () => {
    await caddy?.stop();
    await haproxy?.stop();
  });

  it('reaches the shared HAProxy’s master socket (streamlocal forward)', async () => {
    const master = services.haproxyMaster.replace(/^unix:\/\//, '');
    const t = adminTransport(`ssh://${alias()}${master}`);
    try {
      const proc = await new MasterCli(t).reloads();
      expect(proc.worker).toBeGreaterThan(0);
      // A second command reuses the one ssh connection.
      expect((await new MasterCli(t).master('show proc')).split('\n')[0]).toMatch(/master|PID/);
    } finally {
      await t.close();
    }
  });

  it('drives Caddy’s admin API on 127.0.0.1 of the server, Host header included', async () => {
    const t = adminTransport(`ssh://${alias()}/${caddy.host}`);
    try {
      const router = new CaddyRouter(`ssh://${alias()}/${caddy.host}`, t);
      expect(await router.list()).toEqual([]);
      expect(router.publicUrl(':8080')).toBe(`http://${alias()}:8080`);
    } finally {
      await t.close();
    }
  });

  it('flips on HAProxy entirely over ssh: runtime through the socket, its files through the same connection', async () => {
    const app = await startBusyboxApp('over-ssh');
    const router = routerFor({
      kind: 'haproxy',
      url: `ssh://${alias()}${haproxy.master.replace(/^unix:\/\//, '')}`,
      config: haproxy.configDir,
    });
    try {
      const listen = `127.0.0.1:${await freePort()}`;
      const spec = {
        app: 'web',
        environment: 'ssh',
        hosts: [],
        listen,
        history: [],
        backends: [{ release: 'r1', target: 't1', dials: [app.dial], weight: 100 }],
      };
      const state = await router.write(spec, undefined);
      expect(state.version).toBe('1');
      expect(await (await fetch(`http://${listen}/`)).text()).toBe('over-ssh\n');
      expect(fs.readdirSync(haproxy.configDir)).toContain('route.web.ssh.cfg');
      await router.remove(state);
      expect(await router.read('web', 'ssh')).toBeUndefined();
    } finally {
      await router.close();
      await app.stop();
    }
  });

  it('says so when ssh cannot connect, without waiting long', async () => {
    const t = adminTransport(`ssh://nobody@127.0.0.1:${await freePort()}/run/haproxy/master.sock`);
    try {
      await expect(new HaproxyRouter(t, '/tmp/none').read('web', 'x')).rejects.toThrow(
        /could not reach the admin API .*through ssh.*ssh exited/,
      );
    } finally {
      await t.close();
    }
  });
});

describe('https with the server’s CA and a client certificate (mutual TLS)', () => {
  let dir: string;
  let caddy: RunningService & { admin: string };
  let front: tls.Server;
  let url: string;
  const pem = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-mtls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-subj',
      '/CN=anew test CA',
      '-days',
      '1',
    );
    for (const [name, cn, ext] of [
      ['server', 'localhost', 'subjectAltName=IP:127.0.0.1'],
      ['client', 'anew', 'extendedKeyUsage=clientAuth'],
      ['stranger', 'stranger', 'extendedKeyUsage=clientAuth'],
    ] as const) {
      ssl(
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${cn}`,
      );
      fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
      // The stranger's certificate is self-signed: the server must refuse it.
      if (name === 'stranger')
        ssl(
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-signkey',
          `${name}.key`,
          '-out',
          `${name}.pem`,
          '-days',
          '1',
          '-extfile',
          `${name}.ext`,
        );
      else
        ssl(
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          `${name}.pem`,
          '-days',
          '1',
          '-extfile',
          `${name}.ext`,
        );
    }
    const port = await freePort();
    // Caddy's remote admin is mutual TLS in front of the same API: here a TLS
    // terminator that asks for a client certificate of the CA, before the real Caddy.
    caddy = await startCaddy([`127.0.0.1:${port}`]);
    front = tls.createServer(
      {
        key: pem('server.key'),
        cert: pem('server.pem'),
        ca: pem('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (client) => {
        const upstream = net.connect(caddy.port, '127.0.0.1');
        client.pipe(upstream).pipe(client);
        const end = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', end);
        upstream.on('error', end);
      },
    );
    front.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => front.listen(port, '127.0.0.1', r));
    url = `https://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    front?.close();
    await caddy?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes and reads a route in Caddy over https with the CA and the client certificate', async () => {
    const router = routerFor({
      kind: 'caddy',
      url,
      ca: pem('ca.pem'),
      cert: pem('client.pem'),
      key: pem('client.key'),
    });
    const upstream = http.createServer((_q, res) => res.end('tls'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    try {
      const listen = `127.0.0.1:${await freePort()}`;
      const dial = `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
      const spec = {
        app: 'web',
        environment: 'tls',
        hosts: [],
        listen,
        history: [],
        backends: [{ release: 'r1', target: 't1', dials: [dial], weight: 100 }],
      };
      const state = await router.write(spec, undefined);
      expect(state.backends).toEqual(spec.backends);
      expect(await (await fetch(`http://${listen}/`, { headers: { connection: 'close' } })).text()).toBe(
        'tls',
      );
    } finally {
      upstream.close();
      await router.close();
    }
  });

  it('fails clearly without the client certificate, with another one, or without the CA', async () => {
    const cases = [
      { ca: pem('ca.pem') },
      { ca: pem('ca.pem'), cert: pem('stranger.pem'), key: pem('stranger.key') },
      { cert: pem('client.pem'), key: pem('client.key') },
    ];
    for (const tlsOpts of cases) {
      const router = routerFor({ kind: 'caddy', url, ...tlsOpts });
      await expect(router.list()).rejects.toThrow(/admin API at https:\/\/127\.0\.0\.1:\d+ did not answer/);
    }
  });
});
