import { describe, expect, it } from 'vitest';
import { resolveSettings } from '../src/config/index.ts';
import { environmentUrl } from '../src/release/index.ts';
import { CaddyRouter } from '../src/routers/caddy/index.ts';

const caddy = new CaddyRouter('http://127.0.0.1:2019');

describe("flip's url: the address users reach", () => {
  it.each([
    [{ hosts: ['www.example.com', 'example.com'], listen: ':443' }, 'https://www.example.com'],
    [{ hosts: ['*.example.com', 'app.example.com'], listen: ':443' }, 'https://app.example.com'],
    [{ hosts: ['www.example.com'], listen: ':80' }, 'http://www.example.com'],
    [{ hosts: ['pr-7.preview.test'], listen: '127.0.0.1:8080' }, 'http://pr-7.preview.test:8080'],
    // No host name: the router's own address.
    [{ hosts: [], listen: '127.0.0.1:8080' }, 'http://127.0.0.1:8080'],
    // A load balancer in front: the url setting.
    [
      { hosts: ['www.example.com'], listen: ':8080', url: 'https://www.example.com' },
      'https://www.example.com',
    ],
  ])('%j → %s', (s, want) => {
    expect(environmentUrl({ url: undefined, ...s }, caddy)).toBe(want);
  });

  it('takes {env} in the url setting of a template', () => {
    const settings = resolveSettings(
      { environments: { 'pr-*': { url: 'https://{env}.preview.example.com' } } } as never,
      'pr-12',
      {},
    );
    expect(settings.url).toBe('https://pr-12.preview.example.com');
  });
});
