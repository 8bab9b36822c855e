import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';
import { FIELD_MANAGER } from './names';

/** A Kubernetes API call that failed, with the API server's own reason and message. */
export class KubernetesApiError extends Error {
  constructor(
    readonly operation: string,
    /** HTTP status, 0 when the API server could not be reached. */
    readonly status: number,
    /** The Status reason (`NotFound`, `Conflict`, `Invalid`, `Forbidden`...), when there is one. */
    readonly reason: string | null,
    detail: string,
  ) {
    super(`Kubernetes API: ${operation} failed: ${detail}`);
    this.name = 'KubernetesApiError';
  }
}

type DeletableKind = 'Deployment' | 'Service' | 'Secret' | 'PodDisruptionBudget' | 'Ingress';

type Manifest = Record<string, unknown> & { kind?: unknown; metadata?: { name?: unknown } };

/** Loads the client configuration: the given kubeconfig file, else in-cluster, else ~/.kube/config. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured (KUBECONFIG, in-cluster or ~/.kube/config)');
  return kc;
}

/**
 * The handful of calls the driver makes (each one listed in rbac.ts), in one namespace, with
 * every failure turned into a KubernetesApiError. Writes are server-side apply, deliberately:
 * client-node would otherwise send a JSON-patch content type.
 */
export class KubeApi {
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #policy: PolicyV1Api;
  readonly #networking: NetworkingV1Api;
  readonly #kc: KubeConfig;
  readonly #applyOptions = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  readonly #mergePatchOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  constructor(
    kc: KubeConfig,
    readonly namespace: string,
  ) {
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#policy = kc.makeApiClient(PolicyV1Api);
    this.#networking = kc.makeApiClient(NetworkingV1Api);
    this.#kc = kc;
  }

  /** Server-side apply (create or update) of one of the kinds the driver owns; force takes over conflicting fields. */
  async apply(manifest: Manifest): Promise<Record<string, unknown>> {
    const name = String(manifest.metadata?.name);
    const kind = String(manifest.kind);
    const req = { name, namespace: this.namespace, body: manifest, fieldManager: FIELD_MANAGER, force: true };
    const op = `apply ${kind} ${name}`;
    const opts = this.#applyOptions;
    const appliers: Record<string, () => Promise<unknown>> = {
      Deployment: () => this.#apps.patchNamespacedDeployment(req, opts),
      Service: () => this.#core.patchNamespacedService(req, opts),
      Secret: () => this.#core.patchNamespacedSecret(req, opts),
      PodDisruptionBudget: () => this.#policy.patchNamespacedPodDisruptionBudget(req, opts),
      Ingress: () => this.#networking.patchNamespacedIngress(req, opts),
    };
    const run = Object.hasOwn(appliers, kind) ? appliers[kind] : undefined;
    if (!run) throw new Error(`cannot apply a ${kind}`);
    return (await call(op, run)) as Record<string, unknown>;
  }

  /**
   * JSON merge patch of a Deployment (replicas, a template annotation): only the fields given
   * change. client-node sends JSON patch unless told otherwise.
   */
  patchDeployment(name: string, patch: Record<string, unknown>): Promise<V1Deployment> {
    const req = { name, namespace: this.namespace, body: patch, fieldManager: FIELD_MANAGER };
    return call(`patch Deployment ${name}`, () => this.#apps.patchNamespacedDeployment(req, this.#mergePatchOptions));
  }

  /** The Deployment, or null when it does not exist. */
  getDeployment(name: string): Promise<V1Deployment | null> {
    return orNull(call(`get Deployment ${name}`, () => this.#apps.readNamespacedDeployment({ name, namespace: this.namespace })));
  }

  /** Full replace, guarded by the resourceVersion the object carries (409 when it changed since). */
  replaceDeployment(body: V1Deployment): Promise<V1Deployment> {
    const name = String(body.metadata?.name);
    return call(`replace Deployment ${name}`, () => this.#apps.replaceNamespacedDeployment({ name, namespace: this.namespace, body }));
  }

  /** Deletes; false when it was already gone. */
  async delete(kind: DeletableKind, name: string): Promise<boolean> {
    const req = { name, namespace: this.namespace, propagationPolicy: 'Background' };
    const op = `delete ${kind} ${name}`;
    const deleters: Record<DeletableKind, () => Promise<unknown>> = {
      Deployment: () => this.#apps.deleteNamespacedDeployment(req),
      Service: () => this.#core.deleteNamespacedService(req),
      Secret: () => this.#core.deleteNamespacedSecret(req),
      PodDisruptionBudget: () => this.#policy.deleteNamespacedPodDisruptionBudget(req),
      Ingress: () => this.#networking.deleteNamespacedIngress(req),
    };
    return (await orNull(call(op, deleters[kind]))) !== null;
  }

  async listPods(labelSelector: string): Promise<V1Pod[]> {
    const list = await call(`list pods ${labelSelector}`, () => this.#core.listNamespacedPod({ namespace: this.namespace, labelSelector }));
    return list.items;
  }

  async listSecretNames(labelSelector: string): Promise<string[]> {
    const list = await call(`list secrets ${labelSelector}`, () => this.#core.listNamespacedSecret({ namespace: this.namespace, labelSelector }));
    return list.items.map((s) => String(s.metadata?.name));
  }

  /**
   * One container's log (`timestamps=true`) as the response stream, once the API server
   * answered 200. A request of our own rather than client-node's Log helper, which loses the
   * Status body of errors and never ends its output when the connection drops.
   */
  async podLog(
    pod: string,
    container: string,
    opts: { follow: boolean; tailLines?: number; sinceSeconds?: number; sinceTime?: string; previous?: boolean },
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const op = `read log of ${pod}/${container}`;
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new KubernetesApiError(op, 0, null, 'no current cluster');
    const url = new URL(`${cluster.server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods/${encodeURIComponent(pod)}/log`);
    const q = url.searchParams;
    q.set('container', container);
    q.set('follow', String(opts.follow));
    q.set('timestamps', 'true');
    if (opts.tailLines !== undefined) q.set('tailLines', String(opts.tailLines));
    // The API server refuses sinceSeconds=0 (422); a `since` of now or later means "from now".
    if (opts.sinceSeconds !== undefined) q.set('sinceSeconds', String(Math.max(1, Math.ceil(opts.sinceSeconds))));
    if (opts.sinceTime !== undefined) q.set('sinceTime', opts.sinceTime);
    if (opts.previous) q.set('previous', 'true');
    const reqOpts: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(reqOpts);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...reqOpts, method: 'GET', signal }, (res) => {
        if (res.statusCode === 200) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
        res.on('error', () => {});
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = parseStatus(body);
          const detail = `${status?.message ?? `HTTP ${res.statusCode}`} (HTTP ${res.statusCode}${status?.reason ? ` ${status.reason}` : ''})`;
          reject(new KubernetesApiError(op, res.statusCode ?? 0, status?.reason ?? null, detail));
        });
      });
      req.on('error', (err) => reject(toApiError(op, err)));
      req.end();
    });
  }
}

async function call<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toApiError(operation, err);
  }
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof KubernetesApiError && err.status === 404) return null;
    throw err;
  }
}

/** Reads the API server's Status body out of client-node's exception. */
export function toApiError(operation: string, err: unknown): KubernetesApiError {
  if (err instanceof KubernetesApiError) return err;
  if (err instanceof ApiException) {
    const status = parseStatus(err.body);
    const detail = status?.message ?? (err.code === 401 ? 'unauthorized (check the credentials in the kubeconfig)' : `HTTP ${err.code}`);
    return new KubernetesApiError(operation, err.code, status?.reason ?? null, `${detail} (HTTP ${err.code}${status?.reason ? ` ${status.reason}` : ''})`);
  }
  const cause = err as { message?: string; cause?: { code?: string; message?: string }; code?: string };
  const code = cause.cause?.code ?? cause.code;
  const detail = `API server unreachable (${code ?? cause.cause?.message ?? cause.message ?? String(err)})`;
  return new KubernetesApiError(operation, 0, null, detail);
}

function parseStatus(body: unknown): { message?: string; reason?: string } | null {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (value && typeof value === 'object' && (value as { kind?: unknown }).kind === 'Status') {
    const s = value as { message?: unknown; reason?: unknown };
    return { message: typeof s.message === 'string' ? s.message : undefined, reason: typeof s.reason === 'string' ? s.reason : undefined };
  }
  return null;
}
