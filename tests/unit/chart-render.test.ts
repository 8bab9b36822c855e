import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodMonitor, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../../server/env';
import { CONTAINER_PORT, kubernetesConfigFromEnv } from '../../server/runtime/kubernetes/config';
import { buildDeployment } from '../../server/runtime/kubernetes/manifests';
import { KUBERNETES_RBAC_RULES } from '../../server/runtime/kubernetes/rbac';
import { ROOT, isControlPlaneEnvName, requireTool } from '../support/packaging';
import { runtimeDeployment } from '../support/runtime-deployment';

/**
 * The chart as Helm renders it, validated against the official Kubernetes schemas and read
 * back through server/env.ts. Needs a real helm (AETHER_HELM_BIN, or `helm` on PATH): no
 * faithful Go-template/Sprig renderer exists in JavaScript, so without one these tests fail.
 */
let helmBin: string | undefined;
const helm = () => (helmBin ??= requireTool('AETHER_HELM_BIN', ['helm']));
const CHART = path.join(ROOT, 'charts/aether');
const run = promisify(execFile);

// Rendered manifests are checked field by field; a schema type per kind would add nothing.
type Obj = any;
const REQUIRED = {
  'secrets.DATABASE_URL': 'postgres://aether:pw@postgres.db:5432/aether',
  'secrets.REDIS_URL': 'redis://redis.db:6379',
  'secrets.AETHER_API_TOKENS': 'tok_admin:admin:ops',
  'secrets.AETHER_RUNTIME_FETCH_SECRET': 'f'.repeat(40),
  'secrets.AETHER_SECRETS_KEY': Buffer.alloc(32, 7).toString('base64'),
};

const MODELS: Record<string, new (o: Obj) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

let valuesDir = '';

/** `helm template` with REQUIRED plus `set` (null removes a key), and optional values files' text. */
async function render(set: Record<string, string | null> = {}, valuesYaml?: string): Promise<Obj[]> {
  const merged: Record<string, string | null> = { ...REQUIRED, ...set };
  const args = ['template', 'rel', CHART, '--namespace', 'aether'];
  for (const [k, v] of Object.entries(merged)) if (v !== null) args.push('--set-string', `${k}=${v}`);
  if (valuesYaml) {
    const file = path.join(valuesDir, `values-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, valuesYaml);
    args.push('-f', file);
  }
  const { stdout } = await run(helm(), args, { maxBuffer: 8 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj).filter(Boolean);
}

async function renderError(set: Record<string, string | null>): Promise<string> {
  try {
    await render(set);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error('helm template succeeded');
}

const find = (docs: Obj[], kind: string, name?: string) => docs.filter((d) => d.kind === kind && (!name || d.metadata.name === name));
const one = (docs: Obj[], kind: string, name?: string) => {
  const found = find(docs, kind, name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0];
};
/** Whether the IPv4 address `ip` lies in `cidr`. */
function inCidr(ip: string, cidr: string): boolean {
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base!) / size);
}
const secretsKeyEnv = (secret: string) => [
  { name: 'AETHER_SECRETS_KEY', valueFrom: { secretKeyRef: { name: secret, key: 'AETHER_SECRETS_KEY' } } },
  { name: 'AETHER_SECRETS_KEY_PREVIOUS', valueFrom: { secretKeyRef: { name: secret, key: 'AETHER_SECRETS_KEY_PREVIOUS', optional: true } } },
];

const podEnv = (docs: Obj[]) => ({ ...one(docs, 'ConfigMap').data, ...one(docs, 'Secret', 'rel-aether').stringData });

describe('helm chart, rendered (helm template)', () => {
  let docs: Obj[];

  beforeAll(async () => {
    valuesDir = await mkdtemp(path.join(tmpdir(), 'aether-chart-'));
    docs = await render();
  });
  afterAll(async () => {
    if (valuesDir) await rm(valuesDir, { recursive: true, force: true });
  });

  it('passes helm lint --strict', async () => {
    const args = ['lint', '--strict', CHART, ...Object.entries(REQUIRED).flatMap(([k, v]) => ['--set-string', `${k}=${v}`])];
    const { stdout } = await run(helm(), args);
    expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('prints NOTES with the portal URL, the apps namespace and how to log in', async () => {
    const args = ['install', 'aether', CHART, '--namespace', 'aether', '--dry-run=client', '--set', 'existingSecret=aether-env', '--set', 'ingress.enabled=true', '--set', 'ingress.tls.secretName=tls'];
    const { stdout } = await run(helm(), args, { maxBuffer: 8 << 20 });
    const notes = stdout.slice(stdout.indexOf('NOTES:'));
    expect(notes).toContain('Portal and API: https://aether.example.com');
    expect(notes).toContain('Apps run in namespace "aether-apps"');
    expect(notes).toContain('kubectl -n aether rollout status deploy/aether-web');
    expect(notes).toContain('AETHER_API_BASE=https://aether.example.com aether login');
    expect(notes).toContain('NetworkPolicy "aether-apps" lets app pods reach only DNS');
  });

  it('renders only objects valid against the official Kubernetes schemas', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'ConfigMap/rel-aether',
      'Deployment/rel-aether-web',
      'Deployment/rel-aether-worker',
      'Job/rel-aether-migrate',
      'NetworkPolicy/rel-aether-apps',
      'Role/rel-aether-runtime',
      'RoleBinding/rel-aether-runtime',
      'Secret/rel-aether',
      'Secret/rel-aether-migrate',
      'Service/rel-aether',
      'ServiceAccount/rel-aether',
    ]);
    for (const d of docs) {
      const Model = MODELS[`${d.apiVersion}/${d.kind}`];
      expect(Model, `${d.apiVersion}/${d.kind}`).toBeDefined();
      expect(() => new Model!(d).validate(), `${d.kind}/${d.metadata.name}`).not.toThrow();
      expect(d.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'aether', 'app.kubernetes.io/instance': 'rel', 'app.kubernetes.io/managed-by': 'Helm' });
    }
  });

  it("gives the pods an environment server/env.ts accepts, keyed by the variables' names", () => {
    const env = podEnv(docs);
    expect(Object.keys(env).filter((k) => !isControlPlaneEnvName(k))).toEqual([]);
    const parsed = loadEnv(env);
    expect(parsed).toMatchObject({
      AETHER_RUNTIME: 'kubernetes',
      AETHER_WORKERS: 'off',
      AETHER_STORAGE_MODE: 's3',
      AETHER_NAMESPACE: 'aether-apps',
      DATABASE_URL: REQUIRED['secrets.DATABASE_URL'],
      // App pods fetch their artifacts through the in-cluster Service.
      AETHER_RUNTIME_FETCH_URL: 'http://rel-aether.aether.svc.cluster.local:80',
    });
    expect(one(docs, 'ConfigMap').data).not.toHaveProperty('DATABASE_URL');
  });

  it('runs web and worker non-root on a read-only root filesystem, with env from the ConfigMap and Secret', () => {
    const configMap = one(docs, 'ConfigMap');
    for (const name of ['rel-aether-web', 'rel-aether-worker']) {
      const pod = one(docs, 'Deployment', name).spec.template.spec;
      const [c] = pod.containers;
      expect(pod.serviceAccountName).toBe(one(docs, 'ServiceAccount').metadata.name);
      expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      // A Service named like the release would otherwise put AETHER_PORT and friends in the env.
      expect(pod.enableServiceLinks).toBe(false);
      expect(c.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: 'rel-aether' } }]);
      // The secrets key by reference too: a Secret without it stops the pod instead of each pod making its own.
      expect(c.env).toEqual(secretsKeyEnv('rel-aether'));
      expect(c.command).toBeUndefined();
      expect(c.resources.limits).toBeDefined();
      // The writable paths the image expects; everything else is read-only.
      const mounts = c.volumeMounts.map((m: Obj) => m.mountPath);
      expect(mounts).toEqual(expect.arrayContaining(['/tmp', configMap.data.AETHER_DATA_DIR]));
    }
    const worker = one(docs, 'Deployment', 'rel-aether-worker').spec.template.spec.containers[0];
    expect(worker.args).toEqual(['node', '--import', 'tsx', 'jobs/main.ts']);
  });

  it('probes the worker pods on their own /healthz, at the port AETHER_WORKER_PORT gives the worker', () => {
    const c = one(docs, 'Deployment', 'rel-aether-worker').spec.template.spec.containers[0];
    const port = Number(one(docs, 'ConfigMap').data.AETHER_WORKER_PORT);
    expect(port).toBe(9464);
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: port, protocol: 'TCP' }]);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      expect(c[probe].httpGet, probe).toEqual({ path: '/healthz', port: 'metrics' });
    }
    // Booting migrates and restores apps: the startup probe allows it minutes before liveness counts.
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(120);
    expect(loadEnv(podEnv(docs)).AETHER_WORKER_PORT).toBe(port);
  });

  it('probes the web pods on /startupz, /healthz and /readyz at the port the Service targets', () => {
    const web = one(docs, 'Deployment', 'rel-aether-web');
    const c = web.spec.template.spec.containers[0];
    expect(c.ports).toEqual([{ name: 'http', containerPort: Number(one(docs, 'ConfigMap').data.PORT), protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/startupz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const svc = one(docs, 'Service');
    expect(svc.spec.ports[0].targetPort).toBe('http');
    expect(web.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
    expect(one(docs, 'Deployment', 'rel-aether-worker').spec.template.metadata.labels).not.toMatchObject(svc.spec.selector);
  });

  it('runs migrations in a pre-install/pre-upgrade hook Job that reads DATABASE_URL from a hook Secret made first', () => {
    const job = one(docs, 'Job');
    const hookSecret = one(docs, 'Secret', 'rel-aether-migrate');
    for (const o of [job, hookSecret]) expect(o.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(Number(hookSecret.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(Number(job.metadata.annotations['helm.sh/hook-weight']));
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.containers[0].args).toEqual(['node', '--import', 'tsx', 'jobs/migrate.ts']);
    const ref = pod.containers[0].env.find((e: Obj) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef;
    expect(ref).toEqual({ name: 'rel-aether-migrate', key: 'DATABASE_URL' });
    expect(hookSecret.stringData).toEqual({ DATABASE_URL: REQUIRED['secrets.DATABASE_URL'] });
  });

  it("binds the ServiceAccount, in the apps namespace, to exactly the driver's rules", async () => {
    const role = one(docs, 'Role');
    const binding = one(docs, 'RoleBinding');
    expect(role.metadata.namespace).toBe('aether-apps');
    expect(role.rules).toEqual(KUBERNETES_RBAC_RULES);
    expect(binding.metadata.namespace).toBe('aether-apps');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: one(docs, 'ServiceAccount').metadata.name, namespace: 'aether' }]);
    const other = await render({ 'runtime.namespace': 'team-apps' });
    expect(one(other, 'Role').metadata.namespace).toBe('team-apps');
    expect(one(other, 'ConfigMap').data.AETHER_NAMESPACE).toBe('team-apps');
  });

  it('rolls the pods when config or secrets change, not otherwise', async () => {
    const sums = (d: Obj[]) => one(d, 'Deployment', 'rel-aether-web').spec.template.metadata.annotations;
    const [config, secret, scaled] = await Promise.all([
      render({ 'config.AETHER_LOG_LEVEL': 'debug' }),
      render({ 'secrets.REDIS_URL': 'redis://other:6379' }),
      render({ 'web.replicas': '5' }),
    ]);
    expect(sums(config)['checksum/config']).not.toBe(sums(docs)['checksum/config']);
    expect(sums(config)['checksum/secret']).toBe(sums(docs)['checksum/secret']);
    expect(sums(secret)['checksum/secret']).not.toBe(sums(docs)['checksum/secret']);
    expect(sums(scaled)).toEqual(sums(docs));
  });

  it('uses an existing Secret instead of creating any', async () => {
    const d = await render({ existingSecret: 'ops-aether', ...Object.fromEntries(Object.keys(REQUIRED).map((k) => [k, null])) });
    expect(find(d, 'Secret')).toEqual([]);
    expect(one(d, 'Deployment', 'rel-aether-web').spec.template.spec.containers[0].envFrom[1]).toEqual({ secretRef: { name: 'ops-aether' } });
    for (const name of ['rel-aether-web', 'rel-aether-worker']) expect(one(d, 'Deployment', name).spec.template.spec.containers[0].env).toEqual(secretsKeyEnv('ops-aether'));
    const ref = one(d, 'Job').spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef;
    expect(ref).toEqual({ name: 'ops-aether', key: 'DATABASE_URL' });
  });

  it('takes the secrets key, and the previous one while rotating, from a Secret of its own when asked', async () => {
    const d = await render({ 'secretsKey.existingSecret': 'vault-aether-key', 'secrets.AETHER_SECRETS_KEY': null });
    for (const name of ['rel-aether-web', 'rel-aether-worker']) {
      const c = one(d, 'Deployment', name).spec.template.spec.containers[0];
      expect(c.env).toEqual(secretsKeyEnv('vault-aether-key'));
      expect(c.envFrom[1]).toEqual({ secretRef: { name: 'rel-aether' } });
    }
    expect(one(d, 'Secret', 'rel-aether').stringData).not.toHaveProperty('AETHER_SECRETS_KEY');
    // The chart's own Secret carries a previous key for a rotation; the migrations need neither.
    const previous = Buffer.alloc(32, 9).toString('base64');
    const rotating = await render({ 'secrets.AETHER_SECRETS_KEY_PREVIOUS': previous });
    expect(loadEnv(podEnv(rotating))).toMatchObject({ AETHER_SECRETS_KEY: REQUIRED['secrets.AETHER_SECRETS_KEY'], AETHER_SECRETS_KEY_PREVIOUS: previous });
    expect(one(rotating, 'Job').spec.template.spec.containers[0].env.map((e: Obj) => e.name)).not.toContain('AETHER_SECRETS_KEY');
  });

  it('adds an Ingress with TLS when asked, and takes the public URL from it', async () => {
    expect(find(docs, 'Ingress')).toEqual([]);
    const d = await render({ 'ingress.enabled': 'true', 'ingress.host': 'deploy.corp.example', 'ingress.className': 'nginx', 'ingress.tls.secretName': 'deploy-tls' });
    const ing = one(d, 'Ingress');
    expect(() => new Ingress(ing).validate()).not.toThrow();
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(ing.spec.tls).toEqual([{ hosts: ['deploy.corp.example'], secretName: 'deploy-tls' }]);
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'rel-aether', port: { name: 'http' } });
    expect(one(d, 'ConfigMap').data.AETHER_PUBLIC_URL).toBe('https://deploy.corp.example');
  });

  it("passes the apps' Ingress settings (runtime.ingress) to web and worker, and NOTES say where apps answer", async () => {
    const ingressEnv = (d: Obj[], name: string) =>
      Object.fromEntries(
        (one(d, 'Deployment', name).spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>)
          .filter((e) => /^AETHER_(APP_DOMAIN|INGRESS_)/.test(e.name))
          .map((e) => [e.name, e.value]),
      );
    for (const name of ['rel-aether-web', 'rel-aether-worker']) expect(ingressEnv(docs, name)).toEqual({});
    const set = { 'runtime.ingress.domain': 'apps.corp.example', 'runtime.ingress.className': 'nginx', 'runtime.ingress.tlsSecretName': 'apps-tls' };
    const d = await render(set);
    for (const name of ['rel-aether-web', 'rel-aether-worker']) {
      const env = ingressEnv(d, name);
      expect(env).toEqual({ AETHER_APP_DOMAIN: 'apps.corp.example', AETHER_INGRESS_CLASS: 'nginx', AETHER_INGRESS_TLS_SECRET: 'apps-tls' });
      // What the driver makes of it, through server/env.ts.
      expect(kubernetesConfigFromEnv(loadEnv({ ...podEnv(d), ...env })).ingress).toEqual({ domain: 'apps.corp.example', className: 'nginx', tlsSecret: 'apps-tls' });
      expect(() => new Deployment(one(d, 'Deployment', name)).validate()).not.toThrow();
    }
    expect(ingressEnv(await render({ 'runtime.ingress.domain': 'apps.corp.example' }), 'rel-aether-web')).toEqual({ AETHER_APP_DOMAIN: 'apps.corp.example' });
    const notes = async (extra: string[]) => {
      const args = ['install', 'aether', CHART, '--namespace', 'aether', '--dry-run=client', '--set', 'existingSecret=aether-env', ...extra];
      const { stdout } = await run(helm(), args, { maxBuffer: 8 << 20 });
      return stdout.slice(stdout.indexOf('NOTES:'));
    };
    expect(await notes(Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]))).toContain('Each app answers at https://<app>.apps.corp.example through its Ingress');
    expect(await notes(['--set', 'runtime.ingress.domain=apps.corp.example'])).toContain('Each app answers at http://<app>.apps.corp.example');
    expect(await notes([])).toContain('runtime.ingress.domain is empty: apps get no Ingress');
    // Set in one place only: the chart refuses them under config.
    expect(await renderError({ 'config.AETHER_APP_DOMAIN': 'x.example' })).toContain('config.AETHER_APP_DOMAIN is set by the chart');
  });

  it("refuses an apps' domain the control plane's host lies under: an app could claim the portal's host", async () => {
    const refusal = (host: string, domain: string) =>
      `the control plane's host ${host} (ingress.host or config.AETHER_PUBLIC_URL) lies under runtime.ingress.domain ${domain}: an app could claim it; give apps a domain of their own, e.g. apps.${domain}`;
    const portal = { 'ingress.enabled': 'true', 'ingress.host': 'aether.example.com' };
    expect(await renderError({ ...portal, 'runtime.ingress.domain': 'example.com' })).toContain(refusal('aether.example.com', 'example.com'));
    expect(await renderError({ ...portal, 'runtime.ingress.domain': 'aether.example.com' })).toContain(refusal('aether.example.com', 'aether.example.com'));
    // The host of a configured public URL counts too, without the chart's Ingress.
    expect(await renderError({ 'config.AETHER_PUBLIC_URL': 'https://deploy.corp.example:8443', 'runtime.ingress.domain': 'corp.example' })).toContain(
      refusal('deploy.corp.example', 'corp.example'),
    );
    // A sibling domain, or one only ending in the same letters, is fine.
    for (const domain of ['apps.example.com', 'ample.com']) {
      const d = await render({ ...portal, 'runtime.ingress.domain': domain });
      expect(one(d, 'Ingress').spec.rules[0].host).toBe('aether.example.com');
    }
  });

  it('writes numbers from values files as integers (not 8e+08) and leaves empty settings out', async () => {
    const d = await render({}, 'config:\n  AETHER_MAX_ARTIFACT_SIZE_BYTES: 800000000\n  AETHER_S3_SSE: ""\n');
    const data = one(d, 'ConfigMap').data;
    expect(data.AETHER_MAX_ARTIFACT_SIZE_BYTES).toBe('800000000');
    expect(data).not.toHaveProperty('AETHER_S3_SSE');
    expect(loadEnv(podEnv(d)).AETHER_MAX_ARTIFACT_SIZE_BYTES).toBe(800_000_000);
  });

  it('refuses to render without what every install needs, saying what is missing', async () => {
    const shortKey = Buffer.alloc(16, 7).toString('base64');
    const [db, redis, tokens, fetchSecret, port, secretsKey, shortSecretsKey, badPrevious] = await Promise.all([
      renderError({ 'secrets.DATABASE_URL': null }),
      renderError({ 'secrets.REDIS_URL': null }),
      renderError({ 'secrets.AETHER_API_TOKENS': null }),
      renderError({ 'secrets.AETHER_RUNTIME_FETCH_SECRET': null }),
      renderError({ 'config.PORT': '8080' }),
      renderError({ 'secrets.AETHER_SECRETS_KEY': null }),
      renderError({ 'secrets.AETHER_SECRETS_KEY': shortKey }),
      renderError({ 'secrets.AETHER_SECRETS_KEY_PREVIOUS': 'not base64!' }),
    ]);
    expect(db).toContain('secrets.DATABASE_URL is required');
    expect(redis).toContain('secrets.REDIS_URL is required');
    expect(tokens).toContain('secrets.AETHER_API_TOKENS or secrets.AETHER_API_TOKEN is required');
    expect(fetchSecret).toContain('secrets.AETHER_RUNTIME_FETCH_SECRET is required');
    expect(port).toContain('config.PORT is set by the chart');
    expect(secretsKey).toContain('secrets.AETHER_SECRETS_KEY is required (or set existingSecret or secretsKey.existingSecret)');
    expect(shortSecretsKey).toContain('secrets.AETHER_SECRETS_KEY must be base64 of 32 bytes (openssl rand -base64 32)');
    expect(shortSecretsKey).not.toContain(shortKey);
    expect(badPrevious).toContain('secrets.AETHER_SECRETS_KEY_PREVIOUS must be base64 of 32 bytes');
  });
  it("confines app pods with a NetworkPolicy: DNS, the web pods' port, the internet minus private ranges", () => {
    const policy = one(docs, 'NetworkPolicy', 'rel-aether-apps');
    expect(policy.metadata.namespace).toBe('aether-apps');
    // It selects exactly the pods the Kubernetes driver makes.
    const appPod = (buildDeployment(runtimeDeployment({ appName: 'web', deploymentId: '00000000-0000-4000-8000-000000000000', digest: 'ab'.repeat(32), storageKey: 'k' }), {
      namespace: 'aether-apps', image: 'i', fetchBaseUrl: 'http://x', progressDeadlineSecs: 60, healthPath: '/',
      resources: { cpuRequest: '1', memoryRequest: '1Mi', cpuLimit: '1', memoryLimit: '1Mi' },
    }) as Obj).spec.template;
    expect(appPod.metadata.labels).toMatchObject(policy.spec.podSelector.matchLabels);
    expect(policy.spec.podSelector).toEqual({ matchLabels: { app: 'aether' } });
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    // In: the app's own port, from any namespace but the apps' own (apps never reach each other).
    expect(policy.spec.ingress).toEqual([
      {
        from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['aether-apps'] }] } }],
        ports: [{ protocol: 'TCP', port: CONTAINER_PORT }],
      },
    ]);
    const web = one(docs, 'Deployment', 'rel-aether-web').spec.template;
    const [dns, controlPlane, internet, ...rest] = policy.spec.egress;
    expect(rest).toEqual([]);
    expect(dns).toEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
    });
    // Out to the control plane: the web pods (not the worker, not Postgres or Redis), on the
    // port their container listens on (the Service's targetPort), in the release's namespace.
    expect(controlPlane.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'aether' } }, podSelector: { matchLabels: one(docs, 'Service').spec.selector } }]);
    expect(web.metadata.labels).toMatchObject(controlPlane.to[0].podSelector.matchLabels);
    expect(one(docs, 'Deployment', 'rel-aether-worker').spec.template.metadata.labels).not.toMatchObject(controlPlane.to[0].podSelector.matchLabels);
    expect(controlPlane.ports).toEqual([{ protocol: 'TCP', port: web.spec.containers[0].ports[0].containerPort }]);
    expect(internet).toEqual({
      to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8'] } }],
    });
    // What that ipBlock lets through, address by address.
    const allowed = (ip: string) => internet.to.some((p: Obj) => inCidr(ip, p.ipBlock.cidr) && !p.ipBlock.except.some((c: string) => inCidr(ip, c)));
    expect(['1.1.1.1', '52.216.0.10', '172.32.0.1'].filter(allowed)).toEqual(['1.1.1.1', '52.216.0.10', '172.32.0.1']);
    // Pods, Services, nodes, a VPC's PostgreSQL and Redis, CGNAT pod ranges, the cloud metadata address.
    expect(['10.96.0.1', '10.0.12.7', '172.20.0.5', '192.168.1.10', '100.64.3.2', '169.254.169.254', '127.0.0.1'].filter(allowed)).toEqual([]);
  });

  it('lets the operator shape the NetworkPolicy, or leave it out', async () => {
    const [off, closed, shaped] = await Promise.all([
      render({}, 'networkPolicy:\n  enabled: false\n'),
      render({}, 'networkPolicy:\n  dns: []\n  controlPlane: false\n  internet: []\n  ingress:\n    fromOtherNamespaces: false\n'),
      render(
        {},
        [
          'networkPolicy:',
          '  dns: [{ ipBlock: { cidr: 169.254.20.10/32 } }]',
          '  internet: [{ cidr: 0.0.0.0/0, except: [10.0.0.0/8, 203.0.113.7/32] }]',
          '  extraEgress: [{ to: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: minio } } }], ports: [{ protocol: TCP, port: 9000 }] }]',
          '  ingress:',
          '    fromAppsNamespace: true',
          '    from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: ingress-nginx } } }]',
        ].join('\n'),
      ),
    ]);
    expect(find(off, 'NetworkPolicy')).toEqual([]);
    // Nothing allowed at all is an explicit empty list (deny), not a missing field.
    const deny = one(closed, 'NetworkPolicy');
    expect(() => new NetworkPolicy(deny).validate()).not.toThrow();
    expect(deny.spec).toMatchObject({ policyTypes: ['Ingress', 'Egress'], ingress: [], egress: [] });
    const policy = one(shaped, 'NetworkPolicy');
    expect(() => new NetworkPolicy(policy).validate()).not.toThrow();
    expect(policy.spec.ingress[0].from).toEqual([
      { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['aether-apps'] }] } },
      { podSelector: {} },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
    ]);
    expect(policy.spec.egress.map((r: Obj) => r.to)).toEqual([
      [{ ipBlock: { cidr: '169.254.20.10/32' } }],
      [expect.objectContaining({ podSelector: { matchLabels: one(shaped, 'Service').spec.selector } })],
      [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '203.0.113.7/32'] } }],
      [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'minio' } } }],
    ]);
    expect(policy.spec.egress[3].ports).toEqual([{ protocol: 'TCP', port: 9000 }]);
  });

  it('adds a ServiceMonitor for /metrics on request, scraping with AETHER_METRICS_TOKEN when there is one', async () => {
    expect(find(docs, 'ServiceMonitor')).toEqual([]);
    const token = 'm'.repeat(24);
    const [open, withToken, existing] = await Promise.all([
      render({ 'monitoring.serviceMonitor.enabled': 'true' }, 'monitoring:\n  serviceMonitor:\n    labels: { release: kube-prometheus-stack }\n'),
      render({ 'monitoring.serviceMonitor.enabled': 'true', 'secrets.AETHER_METRICS_TOKEN': token }),
      render({
        'monitoring.serviceMonitor.enabled': 'true',
        'monitoring.serviceMonitor.bearerToken': 'true',
        existingSecret: 'ops-aether',
        ...Object.fromEntries(Object.keys(REQUIRED).map((k) => [k, null])),
      }),
    ]);
    for (const d of [open, withToken, existing]) {
      const sm = one(d, 'ServiceMonitor');
      expect(() => new ServiceMonitor(sm).validate(), 'ServiceMonitor schema').not.toThrow();
      // It selects the web Service by its labels, in the release namespace, on its named port.
      const svc = one(d, 'Service');
      expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
      expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['aether'] });
      expect(svc.spec.ports.map((p: Obj) => p.name)).toContain(sm.spec.endpoints[0].port);
    }
    const plain = one(open, 'ServiceMonitor');
    expect(plain.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(plain.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    const scraped = one(withToken, 'ServiceMonitor').spec.endpoints[0];
    expect(scraped.bearerTokenSecret).toEqual({ name: 'rel-aether', key: 'AETHER_METRICS_TOKEN' });
    // The key it names is in the Secret the pods read, and the control plane accepts it.
    expect(one(withToken, 'Secret', 'rel-aether').stringData.AETHER_METRICS_TOKEN).toBe(token);
    expect(loadEnv(podEnv(withToken)).AETHER_METRICS_TOKEN).toBe(token);
    expect(one(existing, 'ServiceMonitor').spec.endpoints[0].bearerTokenSecret).toEqual({ name: 'ops-aether', key: 'AETHER_METRICS_TOKEN' });
  });

  it("adds a PodMonitor for the worker's own /metrics beside it, on the worker pods' metrics port, with the same token", async () => {
    expect(find(docs, 'PodMonitor')).toEqual([]);
    const token = 'm'.repeat(24);
    const [open, withToken] = await Promise.all([
      render({ 'monitoring.serviceMonitor.enabled': 'true' }),
      render({ 'monitoring.serviceMonitor.enabled': 'true', 'secrets.AETHER_METRICS_TOKEN': token }),
    ]);
    for (const d of [open, withToken]) {
      const pm = one(d, 'PodMonitor');
      expect(() => new PodMonitor(pm).validate(), 'PodMonitor schema').not.toThrow();
      const worker = one(d, 'Deployment', 'rel-aether-worker').spec.template;
      expect(worker.metadata.labels).toMatchObject(pm.spec.selector.matchLabels);
      expect(one(d, 'Deployment', 'rel-aether-web').spec.template.metadata.labels).not.toMatchObject(pm.spec.selector.matchLabels);
      expect(worker.spec.containers[0].ports.map((p: Obj) => p.name)).toContain(pm.spec.podMetricsEndpoints[0].port);
      expect(pm.spec.namespaceSelector).toEqual({ matchNames: ['aether'] });
    }
    expect(one(open, 'PodMonitor').spec.podMetricsEndpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    expect(one(withToken, 'PodMonitor').spec.podMetricsEndpoints[0].bearerTokenSecret).toEqual({ name: 'rel-aether', key: 'AETHER_METRICS_TOKEN' });
  });
});
