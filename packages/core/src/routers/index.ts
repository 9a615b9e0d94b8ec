import { UserError } from '../errors/index.ts';

/**
 * A router moves an environment's traffic between targets. Its configuration
 * is the live half of the state (which release serves), and describes itself:
 * the release, the canary share and the history of releases that served
 * before, so rollback needs no state file.
 */

export interface Backend {
  release: string;
  /** Target name (the same on every host of the release). */
  target: string;
  /** host:port of each of the release's targets. */
  dials: string[];
  /** Share of traffic in percent; the backends of a route add up to 100. */
  weight: number;
}

export interface RouteSpec {
  app: string;
  environment: string;
  /** Host names served; empty serves any host. */
  hosts: string[];
  /** Address the router serves the environment on (":8080", "127.0.0.1:80"). */
  listen: string;
  backends: Backend[];
  /** Releases that served before the live one, most recent first. */
  history: string[];
}

export interface RouteState extends RouteSpec {
  /** Opaque version for compare-and-swap (Caddy's ETag). */
  version: string;
}

export interface Router {
  read(app: string, environment: string): Promise<RouteState | undefined>;
  /** Every route anew manages (for one app, if given). */
  list(app?: string): Promise<RouteState[]>;
  /**
   * One atomic change. With `expected`, it applies only if the route is still
   * at that version; without, only if the route does not exist yet. Otherwise
   * it throws RouteConflictError and changes nothing.
   */
  write(spec: RouteSpec, expected: RouteState | undefined): Promise<RouteState>;
  remove(expected: RouteState): Promise<void>;
  /** The addresses the router really sends the route's traffic to (for drift: a route to a target that is gone). */
  dials(app: string, environment: string): Promise<string[]>;
  /** Where requests reach a listen address through the router, for probes. */
  publicUrl(listen: string): string;
  /** Whether the router serves TLS (certificates for the route's hosts) on a listen address. */
  servesTls?(listen: string): boolean;
}

/**
 * A compare-and-swap lost to another writer. `applied` says whether this
 * write had gone in before the other replaced it; either way the caller
 * reads the route again before saying what serves now.
 */
export class RouteConflictError extends UserError {
  readonly conflict = true;
  constructor(
    message: string,
    hint?: string,
    readonly applied = false,
  ) {
    super(message, hint);
  }
}

/** The release that takes the most traffic (the live one once a flip is done). */
export function primary(route: Pick<RouteSpec, 'backends'>): Backend | undefined {
  return [...route.backends].sort((a, b) => b.weight - a.weight)[0];
}
