import { UserError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import { type AdminTlsOptions, adminTransport } from './admin-transport.ts';
import { CaddyRouter } from './caddy/index.ts';
import { DEFAULT_CONFIG_DIR, HaproxyRouter } from './haproxy/index.ts';
import type { Router } from './index.ts';

export interface RouterSettings extends AdminTlsOptions {
  kind: 'caddy' | 'haproxy';
  /** router-url: the admin address, directly or through ssh:// (see admin-transport.ts). */
  url: string;
  /** router-config: the folder of configuration files anew owns (HAProxy only). */
  config?: string;
}

/**
 * The router of an environment, reached through its admin transport. The
 * transport holds an ssh connection for ssh:// URLs: call `close` when done.
 */
export function routerFor(settings: RouterSettings, log?: Logger): Router & { close(): Promise<void> } {
  if (settings.key) log?.setSecret(settings.key);
  const transport = adminTransport(settings.url, { ca: settings.ca, cert: settings.cert, key: settings.key });
  const close = () => transport.close();
  switch (settings.kind) {
    case 'caddy':
      if (settings.config)
        throw new UserError(
          'router-config is for HAProxy',
          'Caddy keeps its configuration itself: remove it',
        );
      return Object.assign(new CaddyRouter(settings.url, transport), { close });
    case 'haproxy':
      return Object.assign(new HaproxyRouter(transport, settings.config || DEFAULT_CONFIG_DIR, log), {
        close,
      });
    default:
      throw new UserError(
        `router "${settings.kind as string}" is not one anew drives`,
        'Use caddy or haproxy',
      );
  }
}
