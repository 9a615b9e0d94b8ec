import type { Settings } from '../config/index.ts';
import type { Router } from '../routers/index.ts';

/**
 * The address users reach an environment at: the `url` setting when a load
 * balancer sits in front of the router; else its first host name, over
 * https when the router serves TLS for it, with the listen port unless it is
 * the scheme's own; else (no host names) the router's own address. Undefined
 * when none is known (a router inside a cluster, with no host names).
 */
export function environmentUrl(
  settings: Pick<Settings, 'url' | 'hosts' | 'listen'>,
  router: Router,
): string | undefined {
  if (settings.url) return settings.url;
  const host = settings.hosts.find((h) => !h.includes('*'));
  if (!host) return router.publicUrl(settings.listen) || undefined;
  const port = settings.listen.slice(settings.listen.lastIndexOf(':') + 1);
  if (router.servesTls?.(settings.listen)) return `https://${host}${port === '443' ? '' : `:${port}`}`;
  return `http://${host}${port === '80' ? '' : `:${port}`}`;
}
