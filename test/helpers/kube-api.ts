import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Event } from 'kubernetes-models/v1/Event';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import YAML from 'yaml';

/**
 * A stand-in for the Kubernetes API server, on loopback, for what anew's
 * driver and routers use. It keeps the real server's semantics there:
 * a resourceVersion on every object and 409 on a stale write; server-side
 * apply merged by field manager (managedFields; a conflict when another
 * manager owns a field with another value and force is not set); label and
 * field selectors; 404 for an unknown namespace; DeleteOptions
 * preconditions; and every object written validated against the official
 * schemas (kubernetes-models, generated from the Kubernetes OpenAPI
 * documents and the Gateway API CRDs), a 422 when it does not validate.
 *
 * What a controller and a kubelet would do is done by `reconcile`, after each
 * request, as the test says through `behaviour`: a rollout that completes
 * (its pods become ready one request after they are created), one that
 * never becomes ready (readiness probe failures), or a crash loop (with the
 * events a kubelet records). Nothing depends on time.
 */

// biome-ignore lint/suspicious/noExplicitAny: API objects are open JSON, read field by field.
type Obj = Record<string, any>;
export type Rollout = 'ready' | 'never-ready' | 'crash-loop';

interface Kind {
  kind: string;
  apiVersion: string;
  namespaced: boolean;
  validate: (o: Obj) => void;
  /** Service names are DNS-1035 labels; the others DNS-1123 subdomains. */
  name: RegExp;
}

const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_1035 = /^(?=.{1,63}$)[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1123 = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const KINDS: Record<string, Kind> = {
  'v1/namespaces': {
    kind: 'Namespace',
    apiVersion: 'v1',
    namespaced: false,
    validate: (o) => new Namespace(o as never).validate(),
    name: LABEL_1123,
  },
  'v1/services': {
    kind: 'Service',
    apiVersion: 'v1',
    namespaced: true,
    validate: (o) => new Service(o as never).validate(),
    name: LABEL_1035,
  },
  'v1/pods': {
    kind: 'Pod',
    apiVersion: 'v1',
    namespaced: true,
    validate: (o) => new Pod(o as never).validate(),
    name: SUBDOMAIN,
  },
  'v1/events': {
    kind: 'Event',
    apiVersion: 'v1',
    namespaced: true,
    validate: (o) => new Event(o as never).validate(),
    name: SUBDOMAIN,
  },
  'v1/secrets': {
    kind: 'Secret',
    apiVersion: 'v1',
    namespaced: true,
    validate: (o) => new Secret(o as never).validate(),
    name: SUBDOMAIN,
  },
  'apps/v1/deployments': {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    namespaced: true,
    validate: (o) => new Deployment(o as never).validate(),
    name: SUBDOMAIN,
  },
  'gateway.networking.k8s.io/v1/httproutes': {
    kind: 'HTTPRoute',
    apiVersion: 'gateway.networking.k8s.io/v1',
    namespaced: true,
    validate: (o) => new HTTPRoute(o as never).validate(),
    name: SUBDOMAIN,
  },
};

/** Fields no manager owns: the server's own metadata and the status. */
const SERVER_FIELDS = new Set([
  'apiVersion',
  'kind',
  'status',
  'metadata.resourceVersion',
  'metadata.uid',
  'metadata.creationTimestamp',
  'metadata.generation',
  'metadata.managedFields',
  'metadata.name',
  'metadata.namespace',
]);

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Obj,
  ) {
    super(message);
  }
}

/** Leaves of an object by dotted path; lists are atomic, as for most fields anew writes. */
function flatten(o: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (o !== null && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length > 0) {
    for (const [k, v] of Object.entries(o)) {
      const p = prefix ? `${prefix}.${k.replaceAll('.', '\\.')}` : k;
      if (!SERVER_FIELDS.has(p)) flatten(v, p, out);
    }
  } else if (prefix) out.set(prefix, JSON.stringify(o));
  return out;
}

function splitPath(p: string): string[] {
  return p.split(/(?<!\\)\./).map((s) => s.replaceAll('\\.', '.'));
}

function setPath(o: Obj, path: string, value: unknown): void {
  const keys = splitPath(path);
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null || Array.isArray(cur[k])) cur[k] = {};
    cur = cur[k];
  }
  cur[keys[keys.length - 1]!] = value;
}

function deletePath(o: Obj, path: string): void {
  const keys = splitPath(path);
  const parents: Obj[] = [];
  let cur: Obj | undefined = o;
  for (const k of keys.slice(0, -1)) {
    parents.push(cur!);
    cur = cur?.[k];
    if (typeof cur !== 'object' || cur === null) return;
  }
  delete cur![keys[keys.length - 1]!];
}

function mergePatch(target: Obj, patch: Obj): Obj {
  const out: Obj = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null)
      out[k] = mergePatch(out[k], v);
    else out[k] = v;
  }
  return out;
}

function matches(labels: Record<string, string> = {}, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const t = term.trim();
    let m = /^([^!=]+)!=(.*)$/.exec(t);
    if (m) return labels[m[1]!.trim()] !== m[2]!.trim();
    m = /^([^!=]+)==?(.*)$/.exec(t);
    if (m) return labels[m[1]!.trim()] === m[2]!.trim();
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

function fieldMatches(o: Obj, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=') as [string, string];
    const value = splitPath(k.trim()).reduce<unknown>((cur, key) => (cur as Obj | undefined)?.[key], o);
    return String(value ?? '') === v.trim();
  });
}

const clone = <T>(o: T): T => structuredClone(o);

export interface KubeStandIn {
  url: string;
  token: string;
  /** A kubeconfig with one context per name given (default "standin"). */
  kubeconfig(contexts?: string[]): string;
  /** How each new Deployment's rollout goes; by default every one completes. */
  behaviour: (deployment: Obj) => Rollout;
  /** Changes how a live Deployment behaves from now on (a pod that starts failing). */
  setRollout(namespace: string, name: string, rollout: Rollout): void;
  /** Every write the server accepted: method, path, manager. */
  writes: { method: string; path: string; manager?: string }[];
  /** Every request that failed validation, with the reason (what a 422 said). */
  rejected: string[];
  get(resource: string, namespace: string, name: string): Obj | undefined;
  list(resource: string, namespace?: string): Obj[];
  /**
   * Holds the next `count` requests of a method until all have arrived, then
   * serves them in arrival order: two clients that read the same version
   * before either writes, without relying on timing.
   */
  hold(method: string, count: number): void;
  /** Called after each accepted write (to move a rollout when a route changes). */
  afterWrite: (method: string, path: string, body: Obj | undefined) => void;
  /** Lets the controller and kubelet catch up with every change (a rollout of an edited template). */
  settle(): void;
  /** Writes an object as another client would (e.g. a human with kubectl), through the same rules. */
  put(resource: string, obj: Obj, manager: string): Obj;
  close(): Promise<void>;
}

export async function startKubeApi(opts: { namespaces?: string[] } = {}): Promise<KubeStandIn> {
  const tls = selfSignedCertificate();
  const token = `standin-${Math.random().toString(36).slice(2)}`;
  const store = new Map<string, Obj>();
  let rv = 100;
  let uid = 0;
  const overrides = new Map<string, Rollout>();
  /** Who owns which fields of each object (paths), rendered as managedFields on the object. */
  const ownership = new Map<string, Obj[]>();
  const holds = new Map<string, { count: number; waiting: (() => void)[] }>();
  /** Serves held requests one at a time, in the order they arrived. */
  let queue: Promise<void> = Promise.resolve();
  const key = (resource: string, ns: string, name: string) => `${resource}|${ns}|${name}`;
  const nsExists = (ns: string) => store.has(key('v1/namespaces', '', ns));

  const standIn: KubeStandIn = {
    url: '',
    token,
    behaviour: () => 'ready',
    writes: [],
    rejected: [],
    kubeconfig: (contexts = ['standin']) =>
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'standin',
            cluster: {
              server: standIn.url,
              'certificate-authority-data': Buffer.from(tls.cert).toString('base64'),
            },
          },
        ],
        users: [{ name: 'anew', user: { token } }],
        contexts: contexts.map((name) => ({ name, context: { cluster: 'standin', user: 'anew' } })),
        'current-context': contexts[0],
      }),
    setRollout: (ns, name, rollout) => {
      overrides.set(`${ns}/${name}`, rollout);
      reconcile();
    },
    get: (resource, ns, name) => clone(store.get(key(resource, ns, name))),
    list: (resource, ns) =>
      [...store.entries()].filter(([k]) => k.startsWith(`${resource}|${ns ?? ''}`)).map(([, v]) => clone(v)),
    hold: (method, count) => {
      holds.set(method, { count, waiting: [] });
    },
    afterWrite: () => {},
    put: (resource, obj, manager) => write(resource, obj, { manager, op: 'Update' }),
    settle: () => {
      for (let i = 0; i < 3; i++) reconcile();
    },
    close: () => new Promise((ok) => server.close(() => ok())),
  };

  function bump(o: Obj): void {
    o['metadata']['resourceVersion'] = String(++rv);
  }

  /** Validates and stores an object the way the API server does for any write. */
  function write(
    resource: string,
    obj: Obj,
    how: { manager: string; op: 'Apply' | 'Update'; fields?: Map<string, string>; expectRv?: string },
  ): Obj {
    const kind = KINDS[resource]!;
    // managedFields are the server's record of ownership; what a client sends there is not taken.
    if (obj['metadata']) delete obj['metadata']['managedFields'];
    const ns = kind.namespaced ? String(obj['metadata']?.['namespace'] ?? '') : '';
    const name = String(obj['metadata']?.['name'] ?? '');
    if (!kind.name.test(name))
      throw new HttpError(
        422,
        'Invalid',
        `${kind.kind} "${name}" is invalid: metadata.name: Invalid value: "${name}"`,
      );
    if (obj['apiVersion'] !== kind.apiVersion || obj['kind'] !== kind.kind)
      throw new HttpError(
        400,
        'BadRequest',
        `the object is a ${obj['apiVersion']}/${obj['kind']}, not a ${kind.apiVersion}/${kind.kind}`,
      );
    try {
      kind.validate(obj);
    } catch (e) {
      standIn.rejected.push(`${kind.kind} ${name}: ${(e as Error).message}`);
      throw new HttpError(422, 'Invalid', `${kind.kind} "${name}" is invalid: ${(e as Error).message}`);
    }
    const k = key(resource, ns, name);
    const old = store.get(k);
    if (how.expectRv !== undefined && old?.['metadata']?.['resourceVersion'] !== how.expectRv)
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${resource.split('/').pop()} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    const fields = how.fields ?? flatten(obj);
    const managed: Obj[] = (old ? (ownership.get(k) ?? []) : [])
      .map((m) => ({ ...m }))
      .filter((m: Obj) => !(m['manager'] === how.manager && m['operation'] === how.op));
    // Whoever writes a field owns it now; a field nobody owns any more is gone from the others' sets.
    for (const m of managed) m['fieldsV1'] = (m['fieldsV1'] as string[]).filter((f) => !fields.has(f));
    managed.push({
      manager: how.manager,
      operation: how.op,
      apiVersion: kind.apiVersion,
      fieldsType: 'FieldsV1',
      fieldsV1: [...fields.keys()],
    });
    const stored: Obj = clone(obj);
    stored['metadata'] = {
      ...stored['metadata'],
      namespace: kind.namespaced ? ns : undefined,
      uid: old?.['metadata']?.['uid'] ?? `uid-${++uid}`,
      creationTimestamp: old?.['metadata']?.['creationTimestamp'] ?? new Date(0).toISOString(),
      managedFields: managed
        .filter((m) => m['fieldsV1'].length > 0)
        .map((m) => ({ ...m, fieldsV1: toFieldsV1(m['fieldsV1']) })),
    };
    ownership.set(
      k,
      managed.filter((m) => m['fieldsV1'].length > 0),
    );
    if (!kind.namespaced) delete stored['metadata']['namespace'];
    if (resource === 'apps/v1/deployments') {
      const specChanged = !old || JSON.stringify(old['spec']) !== JSON.stringify(stored['spec']);
      stored['metadata']['generation'] = (old?.['metadata']?.['generation'] ?? 0) + (specChanged ? 1 : 0);
      stored['status'] = old?.['status'] ?? {};
    }
    if (resource === 'v1/services' && stored['spec']) {
      // The cluster IP is the server's, kept across updates as the real server keeps it.
      stored['spec']['clusterIP'] = old?.['spec']?.['clusterIP'] ?? `10.96.0.${(uid % 250) + 1}`;
    }
    bump(stored);
    store.set(k, stored);
    return clone(stored);
  }

  /** Server-side apply: the applied fields become the manager's; others' fields are kept; a field owned elsewhere with another value is a conflict unless forced. */
  function apply(
    resource: string,
    ns: string,
    name: string,
    body: Obj,
    manager: string,
    force: boolean,
  ): Obj {
    const kind = KINDS[resource]!;
    const k = key(resource, ns, name);
    const old = store.get(k);
    const applied = flatten(body);
    if (old) {
      const oldLeaves = flatten(old);
      const conflicts: string[] = [];
      for (const m of ownership.get(k) ?? []) {
        if (m['manager'] === manager) continue;
        for (const f of m['fieldsV1'] as string[])
          if (applied.has(f) && applied.get(f) !== oldLeaves.get(f))
            conflicts.push(`conflict with "${m['manager']}": .${f}`);
      }
      if (conflicts.length && !force)
        throw new HttpError(
          409,
          'Conflict',
          `Apply failed with ${conflicts.length} conflict(s): ${conflicts.join(', ')}`,
          {
            causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: c })),
          },
        );
      const mine = new Set<string>(
        (ownership.get(k) ?? []).find((m: Obj) => m['manager'] === manager && m['operation'] === 'Apply')?.[
          'fieldsV1'
        ] ?? [],
      );
      const others = new Set<string>(
        (ownership.get(k) ?? [])
          .filter((m: Obj) => !(m['manager'] === manager && m['operation'] === 'Apply'))
          .flatMap((m: Obj) => m['fieldsV1']),
      );
      const merged = clone(old);
      delete merged['status'];
      for (const f of mine) if (!applied.has(f) && !others.has(f)) deletePath(merged, f);
      for (const [f, v] of applied) setPath(merged, f, JSON.parse(v));
      merged['apiVersion'] = body['apiVersion'];
      merged['kind'] = body['kind'];
      const expectRv = body['metadata']?.['resourceVersion'];
      return write(resource, merged, { manager, op: 'Apply', fields: applied, expectRv });
    }
    if (kind.namespaced && !nsExists(ns))
      throw new HttpError(404, 'NotFound', `namespaces "${ns}" not found`);
    return write(
      resource,
      { ...body, metadata: { ...body['metadata'], name, namespace: ns } },
      { manager, op: 'Apply', fields: applied },
    );
  }

  function remove(resource: string, ns: string, name: string, preconditionRv?: string): Obj {
    const k = key(resource, ns, name);
    const old = store.get(k);
    if (!old) throw new HttpError(404, 'NotFound', `${resource.split('/').pop()} "${name}" not found`);
    if (preconditionRv !== undefined && old['metadata']['resourceVersion'] !== preconditionRv)
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${resource.split('/').pop()} "${name}": the ResourceVersion in the precondition (${preconditionRv}) does not match the ResourceVersion in record (${old['metadata']['resourceVersion']}). The object might have been modified`,
      );
    store.delete(k);
    ownership.delete(k);
    if (resource === 'v1/namespaces')
      for (const other of [...store.keys()]) if (other.split('|')[1] === name) store.delete(other);
    return old;
  }

  /** The deployment controller and the kubelet, as far as the test needs them. */
  function reconcile(): void {
    for (const [k, dep] of [...store.entries()]) {
      if (!k.startsWith('apps/v1/deployments|')) continue;
      const ns = dep['metadata']['namespace'];
      const name = dep['metadata']['name'];
      const want: number = dep['spec']['replicas'] ?? 1;
      const rollout = overrides.get(`${ns}/${name}`) ?? standIn.behaviour(dep);
      const labels = dep['spec']['template']['metadata']['labels'];
      const pods = standIn
        .list('v1/pods', ns)
        .filter((p) => p['metadata']['ownerReferences']?.[0]?.['name'] === name);
      const status = dep['status'] ?? {};
      const seen = status['observedGeneration'] === dep['metadata']['generation'];
      // First pass after a change: the controller sees it and starts the pods, none ready yet.
      if (!seen || pods.length !== want) {
        for (const p of pods) store.delete(key('v1/pods', ns, p['metadata']['name']));
        for (let i = 0; i < want; i++) podFor(dep, labels, i, 'starting');
        dep['status'] = {
          observedGeneration: dep['metadata']['generation'],
          replicas: want,
          updatedReplicas: want,
          readyReplicas: 0,
          availableReplicas: 0,
          unavailableReplicas: want,
          conditions: [
            {
              type: 'Progressing',
              status: 'True',
              reason: 'NewReplicaSetCreated',
              message: `Created new replica set "${name}-7d9f8"`,
            },
          ],
        };
        if (want === 0) dep['status'] = { observedGeneration: dep['metadata']['generation'], replicas: 0 };
        bump(dep);
        continue;
      }
      const phase = rollout === 'ready' ? 'ready' : rollout;
      const before = JSON.stringify(dep['status']);
      for (let i = 0; i < want; i++) podFor(dep, labels, i, phase);
      const ready = rollout === 'ready' ? want : 0;
      dep['status'] = {
        ...status,
        readyReplicas: ready,
        availableReplicas: ready,
        unavailableReplicas: want - ready,
        conditions: [
          {
            type: 'Available',
            status: ready >= want ? 'True' : 'False',
            reason: ready >= want ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
            message:
              ready >= want
                ? 'Deployment has minimum availability.'
                : 'Deployment does not have minimum availability.',
          },
          {
            type: 'Progressing',
            status: 'True',
            reason: ready >= want ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
            message: `ReplicaSet "${name}-7d9f8" is progressing.`,
          },
        ],
      };
      if (JSON.stringify(dep['status']) !== before) bump(dep);
    }
  }

  function podFor(dep: Obj, labels: Obj, i: number, phase: 'starting' | Rollout): void {
    const ns = dep['metadata']['namespace'];
    const podName = `${dep['metadata']['name']}-7d9f8-${i}`;
    const container = dep['spec']['template']['spec']['containers'][0];
    const waiting =
      phase === 'crash-loop'
        ? {
            reason: 'CrashLoopBackOff',
            message: `back-off 40s restarting failed container=app pod=${podName}`,
          }
        : undefined;
    const pod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace: ns,
        labels,
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: dep['metadata']['name'],
            uid: dep['metadata']['uid'],
          },
        ],
      },
      spec: dep['spec']['template']['spec'],
      status: {
        phase: phase === 'starting' ? 'Pending' : 'Running',
        conditions: [{ type: 'Ready', status: phase === 'ready' ? 'True' : 'False' }],
        containerStatuses: [
          {
            name: 'app',
            image: container['image'],
            imageID: container['image'],
            ready: phase === 'ready',
            restartCount: phase === 'crash-loop' ? 3 : 0,
            state: waiting
              ? { waiting }
              : phase === 'starting'
                ? { waiting: { reason: 'ContainerCreating' } }
                : { running: { startedAt: new Date(0).toISOString() } },
          },
        ],
      },
    };
    const k = key('v1/pods', ns, podName);
    const old = store.get(k);
    if (old && JSON.stringify(old['status']) === JSON.stringify(pod['status'])) return;
    KINDS['v1/pods']!.validate(pod);
    pod['metadata']['resourceVersion'] = String(++rv);
    store.set(k, pod);
    const event =
      phase === 'crash-loop'
        ? { reason: 'BackOff', message: 'Back-off restarting failed container app in pod ' + podName }
        : phase === 'never-ready'
          ? { reason: 'Unhealthy', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503' }
          : undefined;
    if (event) {
      const e: Obj = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${podName}.${rv}`, namespace: ns, resourceVersion: String(++rv) },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: podName, namespace: ns },
        type: 'Warning',
        count: 3,
        source: { component: 'kubelet' },
        ...event,
      };
      KINDS['v1/events']!.validate(e);
      store.set(key('v1/events', ns, e['metadata']['name']), e);
    }
  }

  for (const ns of opts.namespaces ?? ['default'])
    write(
      'v1/namespaces',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { manager: 'kubectl', op: 'Update' },
    );

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const hold = holds.get(req.method ?? '');
    if (hold) {
      await new Promise<void>((ok) => {
        hold.waiting.push(ok);
        if (hold.waiting.length >= hold.count) {
          holds.delete(req.method ?? '');
          for (const release of hold.waiting)
            queue = queue.then(
              () =>
                new Promise<void>((done) => {
                  release();
                  setImmediate(done);
                }),
            );
        }
      });
    }
    const send = (code: number, body: Obj) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.headers.authorization !== `Bearer ${token}`)
        throw new HttpError(401, 'Unauthorized', 'Unauthorized');
      const m = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/.exec(url.pathname) ?? undefined;
      let resource: string;
      let ns = '';
      let name: string | undefined;
      if (m) {
        resource = 'v1/namespaces';
        name = m[1] && decodeURIComponent(m[1]);
      } else {
        const r = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(
          url.pathname,
        );
        if (!r)
          throw new HttpError(
            404,
            'NotFound',
            `the server could not find the requested resource (${url.pathname})`,
          );
        resource = `${r[1] ?? r[2]}/${r[4]}`;
        ns = decodeURIComponent(r[3]!);
        name = r[5] && decodeURIComponent(r[5]);
        if (!KINDS[resource])
          throw new HttpError(
            404,
            'NotFound',
            `the server could not find the requested resource (${resource})`,
          );
      }
      const kind = KINDS[resource]!;
      const manager = url.searchParams.get('fieldManager') ?? 'unknown';
      const method = req.method ?? 'GET';
      const body = text ? (YAML.parse(text) as Obj) : undefined;
      if (method === 'GET' && !name) {
        if (kind.namespaced && !nsExists(ns))
          throw new HttpError(404, 'NotFound', `namespaces "${ns}" not found`);
        const items = standIn
          .list(resource, kind.namespaced ? ns : '')
          .filter((o) => matches(o['metadata']['labels'], url.searchParams.get('labelSelector')))
          .filter((o) => fieldMatches(o, url.searchParams.get('fieldSelector')));
        return send(200, {
          apiVersion: kind.apiVersion,
          kind: `${kind.kind}List`,
          metadata: { resourceVersion: String(rv) },
          items,
        });
      }
      if (method === 'GET') {
        const o = store.get(key(resource, ns, name!));
        if (!o) throw new HttpError(404, 'NotFound', `${resource.split('/').pop()} "${name}" not found`);
        return send(200, o);
      }
      if (method !== 'POST' && !name) throw new HttpError(405, 'MethodNotAllowed', `${method} needs a name`);
      if (kind.namespaced && !nsExists(ns))
        throw new HttpError(404, 'NotFound', `namespaces "${ns}" not found`);
      let out: Obj;
      if (method === 'POST') {
        const n = String(body?.['metadata']?.['name'] ?? '');
        if (store.has(key(resource, ns, n)))
          throw new HttpError(409, 'AlreadyExists', `${resource.split('/').pop()} "${n}" already exists`);
        out = write(
          resource,
          { ...body, metadata: { ...body?.['metadata'], namespace: ns } },
          { manager, op: 'Update' },
        );
        name = n;
      } else if (method === 'PUT') {
        if (!store.has(key(resource, ns, name!)))
          throw new HttpError(404, 'NotFound', `${resource.split('/').pop()} "${name}" not found`);
        if (body?.['metadata']?.['name'] !== name)
          throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
        out = write(
          resource,
          { ...body, metadata: { ...body?.['metadata'], namespace: ns } },
          { manager, op: 'Update', expectRv: body?.['metadata']?.['resourceVersion'] },
        );
      } else if (method === 'PATCH') {
        const type = req.headers['content-type'] ?? '';
        if (type === 'application/apply-patch+yaml') {
          if (!url.searchParams.get('fieldManager'))
            throw new HttpError(
              400,
              'BadRequest',
              'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
            );
          if (body?.['metadata']?.['name'] && body['metadata']['name'] !== name)
            throw new HttpError(
              400,
              'BadRequest',
              'the name of the object does not match the name on the URL',
            );
          out = apply(resource, ns, name!, body ?? {}, manager, url.searchParams.get('force') === 'true');
        } else if (type === 'application/merge-patch+json') {
          const old = store.get(key(resource, ns, name!));
          if (!old) throw new HttpError(404, 'NotFound', `${resource.split('/').pop()} "${name}" not found`);
          const merged = mergePatch(clone(old), body ?? {});
          delete merged['status'];
          out = write(resource, merged, {
            manager,
            op: 'Update',
            fields: flatten(body),
            expectRv: body?.['metadata']?.['resourceVersion'],
          });
        } else
          throw new HttpError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format: ${type}`,
          );
      } else if (method === 'DELETE') {
        out = remove(resource, ns, name!, body?.['preconditions']?.['resourceVersion']);
      } else throw new HttpError(405, 'MethodNotAllowed', method);
      standIn.writes.push({ method, path: url.pathname, manager });
      standIn.afterWrite(method, url.pathname, body);
      reconcile();
      return send(method === 'POST' ? 201 : 200, store.get(key(resource, ns, name!)) ?? out);
    } catch (e) {
      if (e instanceof HttpError)
        return send(e.code, {
          apiVersion: 'v1',
          kind: 'Status',
          status: 'Failure',
          code: e.code,
          reason: e.reason,
          message: e.message,
          details: e.details,
        });
      return send(500, { kind: 'Status', code: 500, message: String(e) });
    } finally {
      if (req.method === 'GET') reconcile();
    }
  }

  const server = https.createServer(tls, (req, res) => void handle(req, res));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  standIn.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return standIn;
}

/** A certificate for 127.0.0.1, as a cluster's API server has (kubeconfig clients refuse plain HTTP). */
function selfSignedCertificate(): { cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anew-kube-api-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=kube-apiserver',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return {
      cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
      key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Field paths in the API's FieldsV1 form: {"f:spec": {"f:replicas": {}}}. */
function toFieldsV1(paths: string[]): Obj {
  const out: Obj = {};
  for (const p of paths) {
    let cur = out;
    for (const k of splitPath(p)) {
      cur[`f:${k}`] ??= {};
      cur = cur[`f:${k}`];
    }
  }
  return out;
}
