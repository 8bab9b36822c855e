import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KUBERNETES_RBAC_RULES } from '../../../server/runtime/kubernetes/rbac';
import { FakeController, type ControllerOptions, type LogLine, type PodBehaviour } from './controller';
import { API_PREFIX_OF, apiVersionOf, GROUP_OF, KIND_OF, ObjectStore, target, type KubeObject, type Resource } from './store';
import {
  badRequest,
  forbidden,
  internal,
  notFound,
  pathNotFound,
  StatusError,
  success,
  unauthorized,
  unsupportedMediaType,
  type Status,
} from './status';

export type { PodBehaviour };

/** A request as the fake saw it, for assertions on what the client really sent. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | null;
}

export interface FakeKube {
  url: string;
  /** A kubeconfig file pointing at the fake, with its bearer token. */
  kubeconfigPath: string;
  store: ObjectStore;
  controller: FakeController;
  requests: RecordedRequest[];
  /** `<group>/<resource>:<verb>` pairs the driver used, checked against KUBERNETES_RBAC_RULES. */
  used: Set<string>;
  /** `<group>/<resource>:<verb>` pairs refused (403) although rbac.ts has them: a Role from an older chart. */
  denied: Set<string>;
  /** How pods of a deployment (by id, or by `sha256:<digest>`) behave; default: they start fine. */
  behave(key: string, b: PodBehaviour): void;
  /** The next `times` requests matching answer `status` with a Status body instead. */
  failNext(match: { method?: string; path?: RegExp }, opts?: { times?: number; status?: number }): void;
  /** Cuts every open log-follow connection, as a dropped watch would. */
  dropLogStreams(): void;
  close(): Promise<void>;
}

const TOKEN = 'fake-kube-token';
const ALLOWED = new Set(KUBERNETES_RBAC_RULES.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups[0]}/${res}:${v}`))));

/**
 * A Kubernetes API server for tests, on real HTTP: the requests @kubernetes/client-node sends
 * for Deployments, Services, Secrets, PodDisruptionBudgets, Ingresses, pods and pod logs, with Status errors, resourceVersion
 * and generation bookkeeping, server-side apply / merge-patch / replace, RBAC from rbac.ts,
 * a simulated controller (see controller.ts) and injected failures.
 */
export async function startFakeKube(dir: string, opts: Partial<ControllerOptions> = {}): Promise<FakeKube> {
  const store = new ObjectStore();
  const controller = new FakeController(store, { tickMs: 10, observeLagMs: 30, secondMs: 1000, ...opts });
  const followers = new Map<string, Set<ServerResponse>>();
  const failures: Array<{ method?: string; path?: RegExp; times: number; status: number }> = [];
  const requests: RecordedRequest[] = [];
  const used = new Set<string>();
  const denied = new Set<string>();

  controller.onLog = (key, line) => {
    for (const res of followers.get(key) ?? []) res.write(formatLine(line, true));
  };
  controller.onPodGone = (ns, pod) => {
    for (const [key, set] of followers) {
      if (key.startsWith(`${ns}/${pod}/`)) for (const res of set) res.end();
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      const body = err instanceof StatusError ? err.body : internal(String(err)).body;
      if (!res.headersSent) send(res, body.code, body);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const contentType = req.headers['content-type']?.split(';')[0]?.trim() ?? null;
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query, contentType });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) throw unauthorized();
    const injected = failures.find((f) => (!f.method || f.method === req.method) && (!f.path || f.path.test(url.pathname)));
    if (injected) {
      if (--injected.times <= 0) failures.splice(failures.indexOf(injected), 1);
      await readBody(req);
      const body = injected.status === 500 ? internal().body : { ...internal().body, code: injected.status, reason: 'ServiceUnavailable', message: 'injected' };
      return send(res, injected.status, body);
    }
    const route = parseRoute(url.pathname);
    if (!route) throw pathNotFound();
    const { resource, ns, name, sub } = route;
    controller.knownNamespaces.add(ns);
    const verb = verbOf(req.method ?? 'GET', Boolean(name), url.searchParams.get('watch') === 'true');
    const rbacResource = sub ? `${resource}/${sub}` : resource;
    const authorize = (v: string) => {
      const rule = `${GROUP_OF[resource]}/${rbacResource}:${v}`;
      used.add(rule);
      if (!ALLOWED.has(rule) || denied.has(rule)) throw forbidden(target(resource, name), v, ns);
    };
    authorize(verb);
    const body = await readBody(req);

    if (sub === 'log') return streamLog(res, ns, name as string, url.searchParams);
    if (!name) {
      if (req.method !== 'GET') throw pathNotFound();
      const selector = parseSelector(url.searchParams.get('labelSelector'));
      const items = store.list(resource, ns, selector);
      return send(res, 200, { apiVersion: apiVersionOf(resource), kind: `${kindOf(resource)}List`, metadata: { resourceVersion: store.resourceVersion }, items });
    }
    switch (req.method) {
      case 'GET':
        return send(res, 200, store.mustGet(resource, ns, name));
      case 'DELETE': {
        const gone = store.delete(resource, ns, name);
        if (resource === 'deployments') controller.deleteOwned(ns, gone.metadata.uid);
        if (resource === 'pods') controller.deletePod(ns, name);
        return send(res, 200, success(target(resource, name)));
      }
      case 'PUT': {
        const obj = parseJson(body) as KubeObject;
        if (obj.metadata?.name !== name) throw badRequest('the name of the object does not match the name on the URL');
        if (!obj.metadata.resourceVersion) throw badRequest('metadata.resourceVersion: Invalid value: 0x0: must be specified for an update');
        return send(res, 200, store.put(resource, ns, obj, { expectRv: obj.metadata.resourceVersion }));
      }
      case 'PATCH':
        return send(res, 200, patch(resource, ns, name, contentType, body, url.searchParams, authorize));
      default:
        throw pathNotFound();
    }
  }

  function patch(resource: Resource, ns: string, name: string, contentType: string | null, body: string, q: URLSearchParams, authorize: (v: string) => void): KubeObject {
    const existing = store.get(resource, ns, name);
    if (contentType === 'application/apply-patch+yaml') {
      if (!q.get('fieldManager')) throw badRequest('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
      const applied = parseYaml(body) as KubeObject;
      if (applied?.metadata?.name !== name) throw badRequest('the name of the object does not match the name on the URL');
      if (applied.kind !== kindOf(resource)) throw badRequest(`apply: kind ${applied.kind} does not match ${kindOf(resource)}`);
      // An apply that creates is authorised as a create as well.
      if (!existing) authorize('create');
      return store.put(resource, ns, applied);
    }
    if (contentType === 'application/merge-patch+json') {
      if (!existing) throw notFound(target(resource, name));
      return store.put(resource, ns, mergePatch(existing, parseJson(body)) as KubeObject);
    }
    // JSON patch and strategic merge are not implemented: the driver must not send them.
    throw unsupportedMediaType(contentType ?? 'none');
  }

  function streamLog(res: ServerResponse, ns: string, pod: string, q: URLSearchParams): void {
    const podObj = store.mustGet('pods', ns, pod);
    const containers: string[] = (podObj.spec.containers ?? []).map((c: { name: string }) => c.name);
    const inits: string[] = (podObj.spec.initContainers ?? []).map((c: { name: string }) => c.name);
    const container = q.get('container') ?? (containers.length === 1 ? containers[0] : null);
    if (!container) throw badRequest(`a container name must be specified for pod ${pod}, choose one of: [${containers.join(' ')}]`);
    if (!containers.includes(container) && !inits.includes(container)) throw badRequest(`container ${container} is not valid for pod ${pod}`);
    const statuses = [...(podObj.status?.containerStatuses ?? []), ...(podObj.status?.initContainerStatuses ?? [])];
    const state = statuses.find((s: { name: string }) => s.name === container);
    const previous = q.get('previous') === 'true';
    const key = `${ns}/${pod}/${container}${previous ? ':previous' : ''}`;
    if (previous && !controller.logs.has(key)) throw badRequest(`previous terminated container "${container}" in pod "${pod}" not found`);
    if (!previous && state?.state?.waiting && !controller.logs.has(key)) {
      throw badRequest(`container "${container}" in pod "${pod}" is waiting to start: ${state.state.waiting.reason}`);
    }
    let lines = controller.logs.get(key) ?? [];
    const sinceSeconds = q.get('sinceSeconds');
    const sinceTime = q.get('sinceTime');
    if (sinceSeconds) lines = lines.filter((l) => l.ns >= BigInt(Date.now() - Number(sinceSeconds) * 1000) * 1_000_000n);
    if (sinceTime) lines = lines.filter((l) => l.ns >= BigInt(Date.parse(sinceTime)) * 1_000_000n);
    const tail = q.get('tailLines');
    if (tail !== null) lines = Number(tail) === 0 ? [] : lines.slice(-Number(tail));
    const timestamps = q.get('timestamps') === 'true';
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    for (const l of lines) res.write(formatLine(l, timestamps));
    if (q.get('follow') !== 'true' || previous) return void res.end();
    const set = followers.get(key) ?? new Set<ServerResponse>();
    followers.set(key, set);
    set.add(res);
    res.on('close', () => set.delete(res));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigPath = path.join(dir, 'kubeconfig.yaml');
  await writeFile(kubeconfigPath, kubeconfig(url));
  // React to writes at once (coalesced), besides the controller's own timer.
  let scheduled = false;
  store.onChange = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      controller.tick();
    });
  };
  controller.start();

  return {
    url,
    kubeconfigPath,
    store,
    controller,
    requests,
    used,
    denied,
    behave: (key, b) => void controller.behaviours.set(key, b),
    failNext: (match, o = {}) => void failures.push({ ...match, times: o.times ?? 1, status: o.status ?? 500 }),
    dropLogStreams() {
      for (const set of followers.values()) for (const res of set) res.destroy();
    },
    async close() {
      controller.stop();
      for (const set of followers.values()) for (const res of set) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function kubeconfig(server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    // client-node refuses plain HTTP unless told to skip TLS verification.
    `- name: fake\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true`,
    'users:',
    `- name: aether\n  user:\n    token: ${TOKEN}`,
    'contexts:',
    '- name: fake\n  context:\n    cluster: fake\n    user: aether',
    'current-context: fake',
    '',
  ].join('\n');
}

const ROUTE_RE =
  /^\/(?:apis\/apps\/v1|api\/v1|apis\/policy\/v1|apis\/networking\.k8s\.io\/v1)\/namespaces\/([^/]+)\/(deployments|replicasets|pods|services|secrets|poddisruptionbudgets|ingresses)(?:\/([^/]+))?(?:\/(log))?$/;

function parseRoute(pathname: string): { resource: Resource; ns: string; name?: string; sub?: string } | null {
  const m = ROUTE_RE.exec(pathname);
  if (!m) return null;
  const resource = m[2] as Resource;
  // Each resource is served under its own group's prefix only (core: /api/v1).
  if (!pathname.startsWith(`${API_PREFIX_OF[GROUP_OF[resource]]}/`)) return null;
  if (m[4] && resource !== 'pods') return null;
  return { resource, ns: decodeURIComponent(m[1] as string), name: m[3] ? decodeURIComponent(m[3]) : undefined, sub: m[4] };
}

function verbOf(method: string, named: boolean, watch: boolean): string {
  if (method === 'GET') return named ? 'get' : watch ? 'watch' : 'list';
  return { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: named ? 'delete' : 'deletecollection' }[method] ?? method.toLowerCase();
}

const kindOf = (r: Resource) => KIND_OF[r];

/** Equality-based label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`. */
function parseSelector(raw: string | null): ((labels: Record<string, string>) => boolean) | undefined {
  if (!raw) return undefined;
  const terms = raw.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const m = /^(!?)([^=!]+?)\s*(?:(==|=|!=)\s*(.*))?$/.exec(t);
    if (!m) throw badRequest(`unable to parse requirement: ${t}`);
    return { not: m[1] === '!', key: m[2] as string, op: m[3], value: m[4] };
  });
  return (labels) =>
    terms.every(({ not, key, op, value }) => {
      if (!op) return not ? !(key in labels) : key in labels;
      return op === '!=' ? labels[key] !== value : labels[key] === value;
    });
}

function formatLine(l: LogLine, timestamps: boolean): string {
  if (!timestamps) return `${l.text}\n`;
  const secs = l.ns / 1_000_000_000n;
  const frac = (l.ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  // Go's RFC3339Nano: trailing zeros of the fraction trimmed, as the kubelet writes it.
  return `${base}${frac ? `.${frac}` : ''}Z ${l.text}\n`;
}

function mergePatch(target: unknown, patchDoc: unknown): unknown {
  if (!patchDoc || typeof patchDoc !== 'object' || Array.isArray(patchDoc)) return patchDoc;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patchDoc)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw badRequest('the body of the request could not be decoded as JSON');
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, code: number, body: KubeObject | Status | Record<string, unknown>): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
