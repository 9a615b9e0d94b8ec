import { readFileSync } from 'node:fs';
import https from 'node:https';
import { UserError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import { http } from '../../node-http/index.ts';

/** How anew reaches a cluster: the settings kubeconfig, kube-context and namespace. */
export interface KubeConnection {
  /** A path to a kubeconfig, or its content (a secret). Empty: KUBECONFIG, ~/.kube/config, or in-cluster. */
  kubeconfig?: string;
  /** kube-context: a context of that kubeconfig; empty is its current one. */
  context?: string;
  namespace: string;
}

/** The field manager of every write, so the cluster tells anew's fields from others'. */
export const FIELD_MANAGER = 'anew';

/** A Kubernetes API error answer (a Status object), with its HTTP code. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open JSON; each caller reads the fields it knows.
export type KubeObject = Record<string, any>;

export type PatchType = 'apply' | 'merge';

/**
 * The few REST calls anew makes, over the credentials that
 * @kubernetes/client-node reads from a kubeconfig (certificates, tokens,
 * exec plugins). The client is loaded only here and only when a Kubernetes
 * driver or router is used, so the bundles of Docker users do not parse it.
 */
export class KubeApi {
  private ready: Promise<{ server: URL; options: https.RequestOptions }> | undefined;

  constructor(
    readonly connection: KubeConnection,
    private readonly log?: Logger,
  ) {}

  get namespace(): string {
    return this.connection.namespace;
  }

  private connect(): Promise<{ server: URL; options: https.RequestOptions }> {
    this.ready ??= loadConfig(this.connection, this.log);
    return this.ready;
  }

  async request(
    method: string,
    path: string,
    opts: { body?: unknown; patch?: PatchType; query?: Record<string, string | undefined> } = {},
  ): Promise<KubeObject> {
    const { server, options } = await this.connect();
    const url = new URL(server.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const contentType =
      opts.patch === 'apply'
        ? 'application/apply-patch+yaml'
        : opts.patch === 'merge'
          ? 'application/merge-patch+json'
          : 'application/json';
    // JSON is YAML, so an apply patch is sent as JSON text.
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const lib = url.protocol === 'https:' ? https : http;
    return await new Promise<KubeObject>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          ...options,
          method,
          headers: {
            ...(options.headers as Record<string, string>),
            accept: 'application/json',
            // Node sends a DELETE's body unframed unless its length is given.
            ...(body !== undefined
              ? { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) }
              : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 16 * 1024 * 1024) chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: KubeObject = {};
            try {
              json = text ? JSON.parse(text) : {};
            } catch {
              json = { message: text.slice(0, 200) };
            }
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) resolve(json);
            else
              reject(
                new KubeApiError(
                  code,
                  String(json['reason'] ?? ''),
                  `${method} ${path}: ${code} ${json['message'] ?? res.statusMessage ?? ''}`.trim(),
                ),
              );
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
      req.on('error', (e) =>
        reject(
          new UserError(
            `the Kubernetes API at ${server.origin} cannot be reached (${e.message})`,
            'Check kubeconfig and kube-context, and that the cluster is up',
          ),
        ),
      );
      req.end(body);
    });
  }

  get(path: string): Promise<KubeObject | undefined> {
    return this.request('GET', path).catch((e: unknown) => {
      if (e instanceof KubeApiError && e.code === 404) return undefined;
      throw e;
    });
  }

  async list(path: string, labelSelector: Record<string, string>): Promise<KubeObject[]> {
    const selector = Object.entries(labelSelector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const res = await this.request('GET', path, { query: { labelSelector: selector || undefined } });
    return (res['items'] as KubeObject[] | undefined) ?? [];
  }

  /** Server-side apply as anew's field manager; force only where anew owns the object outright. */
  apply(path: string, body: KubeObject, force = false): Promise<KubeObject> {
    return this.request('PATCH', path, {
      body,
      patch: 'apply',
      query: { fieldManager: FIELD_MANAGER, force: force ? 'true' : undefined },
    });
  }

  /** Refuses an unknown namespace before anything is written. */
  async checkNamespace(namespace = this.namespace): Promise<void> {
    const ns = await this.get(`/api/v1/namespaces/${encodeURIComponent(namespace)}`);
    if (!ns)
      throw new UserError(
        `namespace "${namespace}" does not exist in the cluster`,
        'Create it first (kubectl create namespace), or set namespace to an existing one',
      );
  }
}

/** The kubeconfig as text and where it came from, or undefined for in-cluster credentials. */
function kubeconfigText(kubeconfig: string | undefined): { text: string; from: string } | undefined {
  const given = kubeconfig?.trim() ?? '';
  // A kubeconfig's content always spans lines; a path never does.
  if (given.includes('\n')) return { text: given, from: 'the kubeconfig setting' };
  const path =
    given ||
    process.env['KUBECONFIG']?.split(':')[0] ||
    (process.env['KUBERNETES_SERVICE_HOST'] ? '' : `${process.env['HOME']}/.kube/config`);
  if (!path) return undefined;
  try {
    return { text: readFileSync(path, 'utf8'), from: path };
  } catch (e) {
    throw new UserError(
      `the kubeconfig ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? e})`,
      'Set kubeconfig to a readable path or to the content of a kubeconfig, or KUBECONFIG',
    );
  }
}

async function loadConfig(
  conn: KubeConnection,
  log?: Logger,
): Promise<{ server: URL; options: https.RequestOptions }> {
  if (conn.kubeconfig?.includes('\n')) log?.setSecret(conn.kubeconfig.trim());
  const source = kubeconfigText(conn.kubeconfig);
  const { KubeConfig } = await import('@kubernetes/client-node/dist/config.js');
  const kc = new KubeConfig();
  if (source) {
    try {
      kc.loadFromString(source.text);
    } catch (e) {
      throw new UserError(
        `${source.from} is not a valid kubeconfig (${(e as Error).message})`,
        'Pass the kubeconfig file kubectl uses, or its content',
      );
    }
  } else kc.loadFromCluster();
  if (conn.context) {
    if (!kc.getContextObject(conn.context))
      throw new UserError(
        `kube-context "${conn.context}" is not in ${source?.from ?? 'the in-cluster credentials'} (it has: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
        'Name one of its contexts, or leave kube-context empty for the current one',
      );
    kc.setCurrentContext(conn.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new UserError(
      `${source?.from ?? 'the in-cluster credentials'} has no current cluster`,
      'Set kube-context, or a current-context in the kubeconfig',
    );
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const user = kc.getCurrentUser();
  for (const secret of [user?.token, user?.password, user?.keyData]) if (secret) log?.setSecret(secret);
  return { server: new URL(cluster.server), options };
}

/**
 * A namespace setting with `{env}` (e.g. `web-{env}`) gives each environment
 * a namespace of its own, a pull request's preview for one: anew creates it
 * on deploy, labelled as its own, and removes it when the environment is
 * retired. Without `{env}` the namespace is the cluster's, and must exist.
 */
export function perEnvironment(namespace: string): boolean {
  return namespace.includes('{env}');
}

export function namespaceFor(namespace: string, environment: string): string {
  return namespace.replaceAll('{env}', environment);
}

/** The objects matching `selector` in each namespace, where `collection(ns)` is their path; a namespace gone meanwhile has none. */
export async function listIn(
  api: KubeApi,
  namespaces: readonly string[],
  collection: (ns: string) => string,
  selector: Record<string, string>,
): Promise<KubeObject[]> {
  const lists = await Promise.all(
    namespaces.map((ns) =>
      api.list(collection(ns), selector).catch((e: unknown) => {
        if (e instanceof KubeApiError && e.code === 404) return [];
        throw e;
      }),
    ),
  );
  return lists.flat();
}

/** The namespaces an app's environments live in: the one given, or every per-environment one anew made. */
export async function namespacesOf(api: KubeApi, namespace: string, app?: string): Promise<string[]> {
  if (!perEnvironment(namespace)) return [namespace];
  const [before, after] = namespace.split('{env}') as [string, string];
  const owned = await api.list('/api/v1/namespaces', {
    'app.kubernetes.io/managed-by': 'anew',
    ...(app ? { 'dev.anew.app': app } : {}),
  });
  return owned
    .map((n) => String(n['metadata']?.['name']))
    .filter((n) => n.startsWith(before) && n.endsWith(after) && n.length > before.length + after.length);
}
