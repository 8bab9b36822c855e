import { createHash, randomUUID } from 'node:crypto';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isLabelValue } from '../../../server/runtime/kubernetes/names';
import { conflict, invalid, notFound, type Target } from './status';

/** One stored object: plain JSON, as the API server keeps it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation?: number;
    creationTimestamp: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  spec?: any;
  status?: any;
  data?: Record<string, string>;
  type?: string;
  immutable?: boolean;
}

export type Resource = 'deployments' | 'replicasets' | 'pods' | 'services' | 'secrets' | 'poddisruptionbudgets' | 'ingresses';

export const GROUP_OF: Record<Resource, string> = {
  deployments: 'apps',
  replicasets: 'apps',
  pods: '',
  services: '',
  secrets: '',
  poddisruptionbudgets: 'policy',
  ingresses: 'networking.k8s.io',
};
export const KIND_OF: Record<Resource, string> = {
  deployments: 'Deployment',
  replicasets: 'ReplicaSet',
  pods: 'Pod',
  services: 'Service',
  secrets: 'Secret',
  poddisruptionbudgets: 'PodDisruptionBudget',
  ingresses: 'Ingress',
};
/** Where each resource's group and version are served. */
export const API_PREFIX_OF: Record<string, string> = { apps: '/apis/apps/v1', '': '/api/v1', policy: '/apis/policy/v1', 'networking.k8s.io': '/apis/networking.k8s.io/v1' };
export const apiVersionOf = (r: Resource) => API_PREFIX_OF[GROUP_OF[r]]?.replace(/^\/apis?\//, '') as string;

// The official schemas (kubernetes-models) every written object is validated against.
const MODEL_OF: Partial<Record<Resource, unknown>> = {
  deployments: Deployment,
  services: Service,
  secrets: Secret,
  poddisruptionbudgets: PodDisruptionBudget,
  ingresses: Ingress,
};

const clone = <T>(v: T): T => structuredClone(v);
export const stableJson = (v: unknown): string =>
  JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : val,
  );
export const templateHash = (template: unknown) => createHash('sha256').update(stableJson(template)).digest('hex').slice(0, 10);

/**
 * The objects of the fake cluster with the API server's bookkeeping: a global resourceVersion
 * bumped on every write, metadata.generation bumped when a spec changes, defaults applied on
 * write, schema validation (the official OpenAPI schemas, via kubernetes-models) plus the
 * semantic checks the driver could trip over.
 */
export class ObjectStore {
  readonly #objects = new Map<string, KubeObject>();
  #rv = 1000;
  /** Called after every write, so the controller reacts without waiting for its tick. */
  onChange: () => void = () => {};

  get(resource: Resource, ns: string, name: string): KubeObject | undefined {
    const o = this.#objects.get(`${resource}/${ns}/${name}`);
    return o && clone(o);
  }

  mustGet(resource: Resource, ns: string, name: string): KubeObject {
    const o = this.get(resource, ns, name);
    if (!o) throw notFound(target(resource, name));
    return o;
  }

  list(resource: Resource, ns: string, selector?: (labels: Record<string, string>) => boolean): KubeObject[] {
    return this.peek(resource, ns, selector).map(clone);
  }

  /** The stored objects themselves, uncloned: for the controller's reads only (never mutate). */
  peek(resource: Resource, ns: string, selector?: (labels: Record<string, string>) => boolean): readonly KubeObject[] {
    const prefix = `${resource}/${ns}/`;
    return [...this.#objects.entries()]
      .filter(([k, o]) => k.startsWith(prefix) && (!selector || selector(o.metadata.labels ?? {})))
      .map(([, o]) => o)
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Creates or updates from a full object (server-side apply by one manager, or an internal write). */
  put(
    resource: Resource,
    ns: string,
    incoming: Omit<KubeObject, 'metadata'> & { metadata: Partial<KubeObject['metadata']> & { name: string } },
    /** expectRv: a replace guarded by resourceVersion; internal: the controller, which may set status. */
    opts: { expectRv?: string; internal?: boolean } = {},
  ): KubeObject {
    const name = incoming.metadata.name;
    const existing = this.get(resource, ns, name);
    if (opts.expectRv !== undefined && existing && opts.expectRv !== existing.metadata.resourceVersion) throw conflict(target(resource, name));
    if (opts.expectRv !== undefined && !existing) throw notFound(target(resource, name));
    const obj: KubeObject = {
      ...clone(incoming),
      apiVersion: incoming.apiVersion,
      kind: KIND_OF[resource],
      metadata: {
        ...(existing?.metadata ?? {}),
        ...clone(incoming.metadata),
        name,
        namespace: ns,
        uid: existing?.metadata.uid ?? randomUUID(),
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString(),
        resourceVersion: existing?.metadata.resourceVersion ?? '0',
      },
    };
    // Clients never write status through the main resource: it is the controller's.
    if (!opts.internal) {
      if (existing?.status) obj.status = existing.status;
      else delete obj.status;
    }
    applyDefaults(resource, obj, existing);
    validate(resource, obj, existing);
    if (resource === 'deployments') {
      const specChanged = !existing || stableJson(existing.spec) !== stableJson(obj.spec);
      obj.metadata.generation = (existing?.metadata.generation ?? 0) + (specChanged ? 1 : 0);
    }
    if (existing && stableJson(existing) === stableJson(obj)) return existing;
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#objects.set(`${resource}/${ns}/${name}`, obj);
    this.onChange();
    return clone(obj);
  }

  /** Writes status only (the controller's subresource), bumping resourceVersion if it changed. */
  setStatus(resource: Resource, ns: string, name: string, status: unknown): void {
    const o = this.#objects.get(`${resource}/${ns}/${name}`);
    if (!o || stableJson(o.status) === stableJson(status)) return;
    o.status = clone(status);
    o.metadata.resourceVersion = String(++this.#rv);
  }

  delete(resource: Resource, ns: string, name: string): KubeObject {
    const key = `${resource}/${ns}/${name}`;
    const o = this.#objects.get(key);
    if (!o) throw notFound(target(resource, name));
    this.#objects.delete(key);
    ++this.#rv;
    this.onChange();
    return o;
  }
}

export const target = (resource: Resource, name?: string): Target => ({ group: GROUP_OF[resource], resource, name });

function applyDefaults(resource: Resource, obj: KubeObject, existing: KubeObject | undefined): void {
  if (resource === 'deployments') {
    const spec = (obj.spec ??= {});
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
    const pod = spec.template?.spec;
    if (pod) {
      pod.restartPolicy ??= 'Always';
      pod.dnsPolicy ??= 'ClusterFirst';
      pod.terminationGracePeriodSeconds ??= 30;
      pod.schedulerName ??= 'default-scheduler';
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        c.terminationMessagePath ??= '/dev/termination-log';
        c.terminationMessagePolicy ??= 'File';
        c.imagePullPolicy ??= /:[^/]+$/.test(c.image ?? '') && !String(c.image).endsWith(':latest') ? 'IfNotPresent' : 'Always';
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
          if (!probe) continue;
          probe.periodSeconds ??= 10;
          probe.timeoutSeconds ??= 1;
          probe.successThreshold ??= 1;
          probe.failureThreshold ??= 3;
          if (probe.httpGet) probe.httpGet.scheme ??= 'HTTP';
        }
      }
    }
  }
  if (resource === 'services') {
    const spec = (obj.spec ??= {});
    spec.type ??= 'ClusterIP';
    // clusterIP is allocated once and immutable.
    spec.clusterIP = existing?.spec?.clusterIP ?? `10.96.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`;
    spec.clusterIPs = [spec.clusterIP];
    for (const p of spec.ports ?? []) p.protocol ??= 'TCP';
  }
  if (resource === 'secrets') obj.type ??= 'Opaque';
}

type Cause = { field: string; message: string };

function validate(resource: Resource, obj: KubeObject, existing: KubeObject | undefined): void {
  const causes: Cause[] = [];
  const check = (ok: boolean, field: string, message: string) => void (ok || causes.push({ field, message }));
  const name = obj.metadata.name;
  if (resource === 'services') check(isDns1035Label(name), 'metadata.name', `"${name}": a DNS-1035 label is required`);
  else check(isDns1123Subdomain(name), 'metadata.name', `"${name}": a lowercase RFC 1123 subdomain is required`);
  checkLabels(obj.metadata.labels, 'metadata.labels', check);
  const model = MODEL_OF[resource];
  if (model) {
    try {
      new (model as unknown as new (o: unknown) => { validate(): void })({ ...obj, status: undefined }).validate();
    } catch (err) {
      for (const e of (err as { errors?: Array<{ instancePath: string; message?: string }> }).errors ?? []) {
        check(false, e.instancePath.slice(1).replaceAll('/', '.'), e.message ?? 'invalid');
      }
    }
  }
  if (resource === 'deployments') validateDeployment(obj, existing, check);
  if (resource === 'secrets') validateSecret(obj, existing, check);
  if (resource === 'poddisruptionbudgets') validatePdb(obj, check);
  if (resource === 'ingresses') validateIngress(obj, check);
  if (causes.length) throw invalid(obj.kind, target(resource, name), causes);
}

/** What the API server checks of a PodDisruptionBudget beyond its schema: one of the two bounds. */
function validatePdb(obj: KubeObject, check: (ok: boolean, field: string, message: string) => void): void {
  const spec = obj.spec ?? {};
  check((spec.minAvailable === undefined) !== (spec.maxUnavailable === undefined), 'spec', 'minAvailable and maxUnavailable cannot be both set (and one is needed)');
  check(Object.keys(spec.selector?.matchLabels ?? {}).length > 0, 'spec.selector', 'an empty selector selects every pod of the namespace');
}

/** What the API server checks of an Ingress beyond its schema: host names, path types, backends. */
function validateIngress(obj: KubeObject, check: (ok: boolean, field: string, message: string) => void): void {
  for (const rule of obj.spec?.rules ?? []) {
    check(isDns1123Subdomain(rule.host ?? ''), 'spec.rules.host', `"${rule.host}": a lowercase RFC 1123 subdomain is required`);
    for (const p of rule.http?.paths ?? []) {
      check(['Exact', 'Prefix', 'ImplementationSpecific'].includes(p.pathType), 'spec.rules.http.paths.pathType', `"${p.pathType}": supported values: "Exact", "ImplementationSpecific", "Prefix"`);
      check(isDns1035Label(p.backend?.service?.name ?? ''), 'spec.rules.http.paths.backend.service.name', 'a DNS-1035 label is required');
    }
  }
  for (const tls of obj.spec?.tls ?? []) for (const h of tls.hosts ?? []) check(isDns1123Subdomain(h), 'spec.tls.hosts', `"${h}": a lowercase RFC 1123 subdomain is required`);
}

/** What the API server checks of a Secret beyond its schema: the 1 MiB cap and immutability. */
function validateSecret(obj: KubeObject, existing: KubeObject | undefined, check: (ok: boolean, field: string, message: string) => void): void {
  const data: Record<string, string> = obj.data ?? {};
  const bytes = Object.entries(data).reduce((n, [k, v]) => n + k.length + Buffer.from(v, 'base64').length, 0);
  check(bytes <= 1024 * 1024, 'data', 'Too long: may not be more than 1048576 bytes');
  for (const k of Object.keys(data)) check(/^[-._a-zA-Z0-9]+$/.test(k), `data[${k}]`, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
  if (existing?.immutable === true) {
    check(obj.immutable === true, 'immutable', 'field is immutable when `immutable` is set');
    check(stableJson(existing.data ?? {}) === stableJson(data), 'data', 'field is immutable when `immutable` is set');
  }
}

function checkLabels(labels: Record<string, string> | undefined, field: string, check: (ok: boolean, field: string, message: string) => void): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    const [prefix, key] = k.includes('/') ? (k.split('/', 2) as [string, string]) : ['', k];
    check(/^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(key) && key.length <= 63 && (!prefix || isDns1123Subdomain(prefix)), `${field}`, `"${k}": invalid label key`);
    check(isLabelValue(v), `${field}`, `"${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`);
  }
}

function validateDeployment(obj: KubeObject, existing: KubeObject | undefined, check: (ok: boolean, field: string, message: string) => void): void {
  const spec = obj.spec ?? {};
  const selector: Record<string, string> = spec.selector?.matchLabels ?? {};
  const tplLabels: Record<string, string> = spec.template?.metadata?.labels ?? {};
  check(Object.keys(selector).length > 0, 'spec.selector', 'empty selector is invalid for deployment');
  check(Object.entries(selector).every(([k, v]) => tplLabels[k] === v), 'spec.template.metadata.labels', '`selector` does not match template `labels`');
  checkLabels(tplLabels, 'spec.template.metadata.labels', check);
  if (existing) {
    check(stableJson(existing.spec?.selector) === stableJson(spec.selector), 'spec.selector', 'field is immutable');
  }
  const pod = spec.template?.spec ?? {};
  const containers: Array<{ name: string; image?: string; env?: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string } } }> }> = [
    ...(pod.initContainers ?? []),
    ...(pod.containers ?? []),
  ];
  check((pod.containers ?? []).length > 0, 'spec.template.spec.containers', 'Required value');
  const names = new Set<string>();
  for (const c of containers) {
    check(isDns1123Label(c.name) && !names.has(c.name), 'spec.template.spec.containers.name', `"${c.name}": must be a unique DNS-1123 label`);
    names.add(c.name);
    check(Boolean(c.image), `spec.template.spec.containers[${c.name}].image`, 'Required value');
    for (const e of c.env ?? []) {
      check(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(e.name), 'env.name', `"${e.name}": a valid environment variable name is required`);
      const ref = e.valueFrom?.secretKeyRef?.name;
      if (ref !== undefined) check(isDns1123Subdomain(ref), 'env.valueFrom.secretKeyRef.name', `"${ref}": a lowercase RFC 1123 subdomain is required`);
    }
  }
}
