import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specs } from '../actions/generate.ts';
import { containers } from './fixtures/apps/world.ts';
import { runAction } from './helpers/action.ts';
import { freePort, type RunningService, services, startCaddy } from './helpers/services.ts';

/**
 * Bad input, for every action, run as the runner runs the committed bundle:
 * a line break in each one-line input, a 10 KB value, control characters and
 * direction overrides, URLs with credentials. Each is refused before any side
 * effect, with a message naming the input, and nothing a user typed reaches
 * the log at the start of a line (where `::error::` is a workflow command).
 */
const PINNED = `127.0.0.1:9/none@sha256:${'0'.repeat(64)}`;
/** Valid values for the required inputs, so that the bad one is what is refused. */
const base: Record<string, string> = {
  image: PINNED,
  environment: 'inputs-e2e',
  target: 'anew-inputs-e2e-x',
  to: '127.0.0.1:9/dest',
};
const requiredOf = (name: string) => {
  const spec = specs.find((s) => s.name === name)!;
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(spec.inputs))
    if (s.required) out[k] = name === 'build' || name === 'ship' ? '127.0.0.1:9/none' : base[k]!;
  return out;
};

/** A line that a runner would read as a workflow command we did not write. */
const smuggled = (stdout: string) =>
  stdout.split('\n').filter((l) => /^::(error|warning|notice)::(INJECTED|X|Y)/.test(l));

/** ship's inputs are its steps' own declarations, read by the same reader: those checked once, through the steps. */
const SHIP_OWN = ['image', 'environment', 'build-target', 'dry-run', 'attest', 'flip'];
const singleLine = specs.flatMap((s) =>
  Object.entries(s.inputs)
    .filter(([k, i]) => !i.multiline && (s.name !== 'ship' || SHIP_OWN.includes(k)))
    .map(([k]) => [s.name, k] as const),
);

describe.concurrent('a line break in every one-line input is refused', () => {
  it.each(singleLine)('%s: %s', async (name, key) => {
    const r = await runAction(name, { ...requiredOf(name), [key]: 'x\n::error::INJECTED' });
    expect(r.code).not.toBe(0);
    expect(r.log).toContain(`input "${key}" holds a line break: "x\\n::error::INJECTED"`);
    expect(smuggled(r.stdout)).toEqual([]);
  });
});

describe.concurrent('every action refuses a 10 KB value, control characters and direction overrides', () => {
  it.each(specs.map((s) => s.name))('%s', async (name) => {
    const spec = specs.find((s) => s.name === name)!;
    const [first] = Object.entries(spec.inputs).find(([, i]) => !i.multiline && !i.secret)!;
    const long = await runAction(name, { ...requiredOf(name), [first]: 'a'.repeat(10 * 1024) });
    expect(long.log).toMatch(new RegExp(`input "${first}" is 10240 characters long`));
    for (const [ch, code] of [
      ['\u0007', '0007'],
      ['\u001b', '001B'],
      ['\u202e', '202E'],
      ['\u2066', '2066'],
    ]) {
      const r = await runAction(name, { ...requiredOf(name), [first]: `a${ch}b` });
      expect(r.code).not.toBe(0);
      expect(r.log).toContain(`input "${first}" holds the control character U+${code}`);
    }
  });
});

describe.concurrent('URLs carry no credentials', () => {
  it.each([
    [
      'deploy',
      'router-url',
      'http://admin:pw@127.0.0.1:2019',
      /input "router-url" carries a user name or password/,
    ],
    [
      'flip',
      'router-url',
      'http://admin@127.0.0.1:2019',
      /input "router-url" carries a user name or password/,
    ],
    ['cleanup', 'router-url', 'https://a:b@caddy:2019', /input "router-url" carries a user name or password/],
    ['rollback', 'docker-host', 'ssh://deploy:pw@web-1', /input "docker-host" carries a password/],
    [
      'attest',
      'fulcio-url',
      'https://u:p@fulcio.example',
      /input "fulcio-url" carries a user name or password/,
    ],
    ['attest', 'rekor-url', 'https://u@rekor.example', /input "rekor-url" carries a user name or password/],
    ['flip', 'hosts', '*', /a bare \* is refused/],
    ['flip', 'hosts', `${'a'.repeat(300)}.example.com`, /at most 253 characters/],
    ['flip', 'hosts', 'evil\u202emoc.example', /control character U\+202E/],
  ])('%s %s=%j', async (name, key, value, message) => {
    const r = await runAction(
      name,
      { ...requiredOf(name), [key]: value },
      {
        env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/token' },
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(message);
    expect(r.log).not.toContain(':pw@');
  });
});

describe('workflow commands smuggled through inputs (issue 12)', () => {
  let caddy: RunningService & { admin: string };
  beforeAll(async () => {
    caddy = await startCaddy();
  });
  afterAll(async () => {
    await caddy?.stop();
  });

  it.each([
    ['health-path', '/\n::error::INJECTED'],
    ['memory', '256m\n::warning::X'],
    ['cpus', '0.5\n::error::INJECTED'],
    ['network', 'host\n::error::INJECTED'],
  ])('deploy with %s=%j is refused before anything starts', async (key, value) => {
    const r = await runAction('deploy', {
      image: PINNED,
      environment: 'smuggle',
      app: 'inputs-e2e',
      'docker-host': services.dockerHost,
      [key]: value,
    });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(new RegExp(`input "${key}" holds a line break`));
    expect(smuggled(r.stdout)).toEqual([]);
    expect(r.log).not.toMatch(/Running: docker/);
    expect(containers('inputs-e2e')).toEqual([]);
  });

  it("flip with listen=$'x\\n::error::Y\\n127.0.0.1:…' is refused and Caddy is untouched", async () => {
    const before = await (await fetch(`${caddy.admin}/config/`)).text();
    const r = await runAction('flip', {
      environment: 'smuggle',
      app: 'inputs-e2e',
      target: 'anew-inputs-e2e-smuggle-x',
      'docker-host': services.dockerHost,
      'router-url': caddy.admin,
      listen: `x\n::error::Y\n127.0.0.1:${await freePort()}`,
    });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/input "listen" holds a line break/);
    expect(smuggled(r.stdout)).toEqual([]);
    expect(await (await fetch(`${caddy.admin}/config/`)).text()).toBe(before);
  });

  it('an anew.yml value with a line break is refused too, naming its key', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-inputs-'));
    const config = path.join(dir, 'anew.yml');
    fs.writeFileSync(config, 'environments:\n  smuggle:\n    listen: "x\\n::error::Y\\n127.0.0.1:80"\n');
    const r = await runAction('flip', {
      environment: 'smuggle',
      app: 'inputs-e2e',
      target: 'anew-inputs-e2e-smuggle-x',
      'router-url': caddy.admin,
      config,
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code).not.toBe(0);
    expect(r.log).toMatch(/environments\.smuggle\.listen/);
    expect(smuggled(r.stdout)).toEqual([]);
  });
});

describe('the job summary is masked as the log is', () => {
  it('a secret quoted in a failure never reaches the summary in clear', async () => {
    const secret = 'summary-secret-pw-4711';
    const r = await runAction('verify', {
      image: PINNED,
      'registry-password': secret,
      // A mistake that quotes the secret in the message the summary shows.
      'registry-username': `bot\n${secret}`,
    });
    expect(r.code).not.toBe(0);
    expect(r.summary).toMatch(/Failed:.*registry-username.*holds a line break/);
    expect(r.summary).toContain('***');
    expect(r.summary).not.toContain(secret);
    // The runner masks the log itself: the secret was registered with it first.
    expect(r.stdout.indexOf(`::add-mask::${secret}`)).toBeGreaterThanOrEqual(0);
    expect(r.stdout.indexOf(`::add-mask::${secret}`)).toBeLessThan(r.stdout.indexOf('::error::'));
  });
});
