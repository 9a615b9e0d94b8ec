import type { Logger } from '../log/index.ts';
import type { CredentialStore } from './credentials.ts';
import { describeRegistryErrors, RegistryError } from './errors.ts';
import { formatBytes, isTransientNetworkError, MiB, open, readBody, TooLargeError } from './http.ts';

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

/** The registry a request is for: its name (for credentials) and where it answers. */
export interface RegistryOrigin {
  /** The name credentials are stored under (docker.io, ghcr.io, 127.0.0.1:5000). */
  registry: string;
  /** scheme://host:port of its API. */
  origin: string;
}

/** A token answer is a few hundred bytes; anything near this is not a token. */
const TOKEN_LIMIT = MiB;
/** The Docker token protocol's default lifetime when the answer gives none. */
const DEFAULT_TOKEN_SECONDS = 60;

interface Token {
  header: string;
  /** Renew after this time (ms since the epoch), before the registry refuses it. */
  renewAt: number;
}

const isLoopback = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\./.test(hostname);

/**
 * Answers a registry's own challenges: basic auth with its stored
 * credentials, or the bearer-token flow (ghcr.io, Docker Hub, …) with tokens
 * cached per registry and scope set until shortly before they expire,
 * anonymous when there are no credentials. Only the transport calls it, and
 * only for answers from the registry's own origin: a host a redirect led to
 * never gets credentials and its challenges are never followed.
 */
export class Authenticator {
  private readonly schemes = new Map<string, Challenge>();
  private readonly tokens = new Map<string, Token>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly store: CredentialStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private key(registry: string, scopes: string[]): string {
    return `${registry} ${[...scopes].sort().join(' ')}`;
  }

  /** The Authorization header for a request to the registry's own origin, once it has asked for one. */
  async header(to: RegistryOrigin, scopes: string[]): Promise<string | undefined> {
    const challenge = this.schemes.get(to.registry);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.basic(to.registry);
    const key = this.key(to.registry, scopes);
    const cached = this.tokens.get(key);
    if (cached && this.now() < cached.renewAt) return cached.header;
    await this.fetchTokenOnce(to, challenge, scopes);
    return this.tokens.get(key)?.header;
  }

  /** Called on a 401 from the registry's own origin: learn the scheme and get what it asks for. */
  async challenge(to: RegistryOrigin, header: string, scopes: string[]): Promise<void> {
    const c = parseChallenge(header);
    if (!c) {
      throw new RegistryError(
        `${to.registry} asks for authentication it does not describe ("${header.slice(0, 200)}")`,
        401,
        'UNAUTHORIZED',
      );
    }
    this.schemes.set(to.registry, c);
    if (c.scheme === 'basic') {
      if (!(await this.store.get(to.registry))) {
        throw new RegistryError(
          `${to.registry} requires credentials and none were found`,
          401,
          'UNAUTHORIZED',
          'Log in first (docker/login-action, docker login) or pass registry-username and registry-password',
        );
      }
      return;
    }
    // The token we sent was refused (expired, revoked, or too narrow): forget it.
    this.tokens.delete(this.key(to.registry, scopes));
    await this.fetchTokenOnce(to, c, scopes);
  }

  private async basic(registry: string): Promise<string | undefined> {
    const cred = await this.store.get(registry);
    if (!cred) return undefined;
    this.log.setSecret(cred.password);
    const encoded = Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
    this.log.setSecret(encoded);
    return `Basic ${encoded}`;
  }

  /** Parallel requests that need the same token wait for one token request. */
  private fetchTokenOnce(to: RegistryOrigin, c: Challenge, scopes: string[]): Promise<void> {
    const key = this.key(to.registry, scopes);
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(to, c, scopes).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  /**
   * The realm named by the registry's own challenge may be another host
   * (Docker Hub's is auth.docker.io); it gets what the Docker token protocol
   * sends, the registry's credentials, but only over https, or plain http
   * when the registry itself is on loopback.
   */
  private realmOf(to: RegistryOrigin, c: Challenge): URL {
    const realm = c.params['realm'];
    if (!realm)
      throw new RegistryError(`${to.registry} gave a bearer challenge without a realm`, 401, 'UNAUTHORIZED');
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`${to.registry} named a token realm that is not a URL`, 401, 'UNAUTHORIZED');
    }
    const registryOnLoopback = isLoopback(new URL(to.origin).hostname);
    const allowed = url.protocol === 'https:' || (url.protocol === 'http:' && registryOnLoopback);
    if (!allowed || url.username || url.password) {
      throw new RegistryError(
        `${to.registry} named the token realm ${url.protocol}//${url.host}, which anew does not send credentials to`,
        401,
        'UNAUTHORIZED',
        'A token realm must be an https URL without a user name (plain http only for a registry on loopback)',
      );
    }
    return url;
  }

  private async fetchToken(to: RegistryOrigin, c: Challenge, scopes: string[]): Promise<void> {
    const url = this.realmOf(to, c);
    if (c.params['service']) url.searchParams.set('service', c.params['service']);
    for (const s of scopes.length ? scopes : c.params['scope'] ? [c.params['scope']] : [])
      url.searchParams.append('scope', s);
    const basic = await this.basic(to.registry);
    let status = 0;
    let body: Buffer = Buffer.alloc(0);
    for (let attempt = 1; attempt <= 4; attempt++) {
      try {
        // No redirect is followed here: the realm is where the registry said to ask, and nowhere else.
        const res = await open({
          method: 'GET',
          url: url.toString(),
          headers: basic ? { authorization: basic } : {},
          deadlineMs: 60_000,
        });
        status = res.status;
        if (status !== 200) {
          body = await readBody(res, 64 * 1024, true).catch(() => Buffer.alloc(0));
          if (status < 500 && status !== 429) break;
        } else {
          body = await readBody(res, TOKEN_LIMIT);
          break;
        }
      } catch (e) {
        if (e instanceof TooLargeError)
          throw new RegistryError(
            `token service ${url.host} answered with more than ${formatBytes(e.limit)}; a token is far smaller`,
            0,
            'TOO_LARGE',
          );
        if (!isTransientNetworkError(e) || attempt === 4) throw e;
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
    if (status !== 200) {
      const { code, message } = describeRegistryErrors(body);
      throw new RegistryError(
        `token service ${url.host} refused ${basic ? 'the credentials' : 'anonymous access'} for ${scopes.join(' ')}: ${status || '?'} ${code ?? ''} ${message ?? ''}`.trim(),
        status,
        code ?? 'UNAUTHORIZED',
        basic
          ? 'Check the user name and password or token'
          : 'Log in first or pass registry-username and registry-password',
      );
    }
    let answer: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      answer = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError(`token service ${url.host} answered with something that is not JSON`, 401);
    }
    const token = answer.token ?? answer.access_token;
    if (!token || typeof token !== 'string')
      throw new RegistryError(`token service ${url.host} answered without a token`, 401, 'UNAUTHORIZED');
    this.log.setSecret(token);
    const seconds =
      typeof answer.expires_in === 'number' && answer.expires_in > 0
        ? answer.expires_in
        : DEFAULT_TOKEN_SECONDS;
    // Renew with a tenth of its life left (at most 30 s early), so no request carries a token that dies on the way.
    const renewAt = this.now() + seconds * 1000 - Math.min(30_000, seconds * 100);
    this.tokens.set(this.key(to.registry, scopes), { header: `Bearer ${token}`, renewAt });
  }
}
