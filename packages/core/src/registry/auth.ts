import type { Logger } from '../log/index.ts';
import type { CredentialStore } from './credentials.ts';
import { describeRegistryErrors, RegistryError } from './errors.ts';
import { isTransientNetworkError, send } from './http.ts';

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme, params };
}

/**
 * Answers registry challenges: basic auth with stored credentials, or the
 * bearer-token flow (ghcr.io, Docker Hub, …) with tokens cached per host and
 * scope set, anonymous when there are no credentials.
 */
export class Authenticator {
  private readonly schemes = new Map<string, Challenge>();
  private readonly tokens = new Map<string, string>();

  constructor(
    private readonly store: CredentialStore,
    private readonly log: Logger,
  ) {}

  private key(registry: string, scopes: string[]): string {
    return `${registry} ${[...scopes].sort().join(' ')}`;
  }

  /** The Authorization header for a request, if this registry has asked for one before. */
  async header(registry: string, scopes: string[]): Promise<string | undefined> {
    const challenge = this.schemes.get(registry);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.basic(registry);
    const cached = this.tokens.get(this.key(registry, scopes));
    if (cached) return cached;
    await this.fetchToken(registry, challenge, scopes);
    return this.tokens.get(this.key(registry, scopes));
  }

  /** Called on a 401: learn the scheme and get what it asks for. */
  async challenge(registry: string, header: string, scopes: string[]): Promise<void> {
    const c = parseChallenge(header);
    if (!c) {
      throw new RegistryError(
        `${registry} asks for authentication it does not describe ("${header}")`,
        401,
        'UNAUTHORIZED',
      );
    }
    this.schemes.set(registry, c);
    if (c.scheme === 'basic') {
      if (!(await this.store.get(registry))) {
        throw new RegistryError(
          `${registry} requires credentials and none were found`,
          401,
          'UNAUTHORIZED',
          'Log in first (docker/login-action, docker login) or pass registry-username and registry-password',
        );
      }
      return;
    }
    // A cached token was refused (expired, or too narrow): forget it.
    this.tokens.delete(this.key(registry, scopes));
    await this.fetchToken(registry, c, scopes);
  }

  private async basic(registry: string): Promise<string | undefined> {
    const cred = await this.store.get(registry);
    if (!cred) return undefined;
    this.log.setSecret(cred.password);
    const encoded = Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
    this.log.setSecret(encoded);
    return `Basic ${encoded}`;
  }

  private async fetchToken(registry: string, c: Challenge, scopes: string[]): Promise<void> {
    const realm = c.params['realm'];
    if (!realm)
      throw new RegistryError(`${registry} gave a bearer challenge without a realm`, 401, 'UNAUTHORIZED');
    const url = new URL(realm);
    if (c.params['service']) url.searchParams.set('service', c.params['service']);
    for (const s of scopes.length ? scopes : c.params['scope'] ? [c.params['scope']] : [])
      url.searchParams.append('scope', s);
    const basic = await this.basic(registry);
    let res: Awaited<ReturnType<typeof send>> | undefined;
    for (let attempt = 1; attempt <= 4; attempt++) {
      try {
        res = await send({
          method: 'GET',
          url: url.toString(),
          headers: basic ? { authorization: basic } : {},
        });
        if (res.status < 500 && res.status !== 429) break;
      } catch (e) {
        if (!isTransientNetworkError(e) || attempt === 4) throw e;
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
    if (res?.status !== 200) {
      const { code, message } = res ? describeRegistryErrors(res.body) : {};
      throw new RegistryError(
        `token service ${url.host} refused ${basic ? 'the credentials' : 'anonymous access'} for ${scopes.join(' ')}: ${res?.status ?? '?'} ${code ?? ''} ${message ?? ''}`.trim(),
        res?.status ?? 0,
        code ?? 'UNAUTHORIZED',
        basic
          ? 'Check the user name and password or token'
          : 'Log in first or pass registry-username and registry-password',
      );
    }
    const body = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token)
      throw new RegistryError(`token service ${url.host} answered without a token`, 401, 'UNAUTHORIZED');
    this.log.setSecret(token);
    this.tokens.set(this.key(registry, scopes), `Bearer ${token}`);
  }
}
