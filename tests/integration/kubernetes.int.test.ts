import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKubernetesRuntime } from '../../server/runtime/kubernetes.driver';
import { KubeApi, KubernetesApiError, loadKubeConfig } from '../../server/runtime/kubernetes/client';
import { buildConfigSecret, buildDeployment } from '../../server/runtime/kubernetes/manifests';
import type { KubernetesRuntimeConfig } from '../../server/runtime/kubernetes/config';
import { fetchToken, fetchTokenKey } from '../../server/runtime/kubernetes/fetch-token';
import { KUBERNETES_RBAC_RULES } from '../../server/runtime/kubernetes/rbac';
import { RolloutError, type LogEntry, type PhaseReport, type RuntimeDeployment, type RuntimeDriver } from '../../server/runtime/port';
import { startFakeKube, type FakeKube, type PodBehaviour } from '../support/fake-kube/index';
import { runtimeDeployment } from '../support/runtime-deployment';

// The Kubernetes driver against the fake API server (tests/support/fake-kube), over real HTTP
// with @kubernetes/client-node. One "second" of progressDeadlineSeconds lasts 100 ms there.

const NS = 'aether-apps';
const KEY = fetchTokenKey('k8s-test-secret-0123456789abcdef0123');
const cfg: KubernetesRuntimeConfig = {
  namespace: NS,
  image: 'aether-nodejs:20-slim',
  fetchBaseUrl: 'http://aether-web.aether-system.svc:3000',
  resources: { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '1', memoryLimit: '512Mi' },
  progressDeadlineSecs: 3,
  healthPath: '/',
};

let dir: string;
let fake: FakeKube;
let driver: RuntimeDriver;
const logged: string[] = [];

const newDriver = (over: Partial<KubernetesRuntimeConfig> = {}, kubeconfig = fake.kubeconfigPath) =>
  createKubernetesRuntime({
    kubeConfig: loadKubeConfig(kubeconfig),
    config: { ...cfg, ...over },
    fetchTokenKey: KEY,
    pollMs: 15,
    graceMs: 3000,
    log: (msg) => logged.push(msg),
  });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aether-k8s-'));
  fake = await startFakeKube(dir, { secondMs: 100 });
  driver = newDriver();
});

afterAll(async () => {
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});

function deployment(appName: string, behaviour?: PodBehaviour, release: Partial<RuntimeDeployment> = {}): RuntimeDeployment {
  const d = runtimeDeployment({ appName, deploymentId: randomUUID(), digest: randomUUID().replaceAll('-', '').repeat(2), storageKey: 'unused', ...release });
  if (behaviour) fake.behave(d.deploymentId, behaviour);
  return d;
}

async function rollout(d: RuntimeDeployment, drv = driver): Promise<{ phases: PhaseReport[]; url: string; at: number }> {
  const phases: PhaseReport[] = [];
  const { url } = await drv.rollout(d, async (p) => void phases.push(p));
  return { phases, url, at: Date.now() };
}

async function failure(d: RuntimeDeployment): Promise<RolloutError> {
  const err = await driver.rollout(d, async () => {}).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RolloutError);
  return err as RolloutError;
}

const templateId = (app: string) => fake.store.get('deployments', NS, app)?.spec.template.metadata.labels.deployment_id;
const podIds = (app: string) => fake.store.list('pods', NS, (l) => l.app_name === app).map((p) => p.metadata.labels?.deployment_id);
const secrets = (app: string) => fake.store.list('secrets', NS, (l) => l.app_name === app).map((s) => s.metadata.name).sort();

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('kubernetes driver: rollouts', () => {
  it('applies Secret, Service and Deployment with server-side apply and reports every phase', async () => {
    const d = deployment('web');
    const { phases, url } = await rollout(d);
    expect(url).toBe('http://web.aether-apps.svc.cluster.local:80');
    expect(phases.map((p) => p.phase)).toEqual(['fetch', 'verify', 'unpack', 'start', 'health', 'switch']);
    // fetch/verify/unpack durations come from the init container's termination message.
    expect(phases.slice(0, 3).map((p) => p.durationMs)).toEqual([7, 1, 4]);
    for (const p of phases) expect(p.durationMs).toBeGreaterThanOrEqual(0);

    const dep = fake.store.get('deployments', NS, 'web');
    expect(dep?.metadata.labels).toEqual({ app: 'aether', app_name: 'web', deployment_id: d.deploymentId });
    expect(dep?.metadata.annotations?.['aether.dev/digest']).toBe(`sha256:${d.digest}`);
    expect(fake.store.get('services', NS, 'web')?.spec.selector).toEqual({ app: 'aether', app_name: 'web' });
    const secret = fake.store.get('secrets', NS, `web-fetch-${d.deploymentId}`);
    expect(Buffer.from(secret?.data?.token ?? '', 'base64').toString()).toBe(fetchToken(KEY, d.deploymentId));
    expect(JSON.stringify(dep)).not.toContain(fetchToken(KEY, d.deploymentId));

    const writes = fake.requests.filter((r) => r.method === 'PATCH');
    expect(writes.length).toBe(4);
    for (const w of writes) {
      expect(w.contentType).toBe('application/apply-patch+yaml');
      expect(w.query).toMatchObject({ fieldManager: 'aether-control-plane', force: 'true' });
    }
  });

  it('on redeploy, waits for the new pods while the old ReplicaSet still serves', async () => {
    const v1 = deployment('shop');
    await rollout(v1);
    const generationBefore = fake.store.get('deployments', NS, 'shop')?.metadata.generation ?? 0;
    // Stale status for 150 ms (still showing v1 available and complete), then a slow v2.
    fake.controller.opts.observeLagMs = 150;
    const v2 = deployment('shop', { kind: 'ok', readyMs: 250 });
    try {
      const { phases, at } = await rollout(v2);
      const [pod] = fake.store.list('pods', NS, (l) => l.deployment_id === v2.deploymentId);
      const v2Pod = fake.controller.sims.get(`${NS}/${pod?.metadata.name}`);
      expect(v2Pod?.readyAt).toBeDefined();
      expect(at).toBeGreaterThanOrEqual(v2Pod?.readyAt as number);
      expect(phases.map((p) => p.phase)).toEqual(['fetch', 'verify', 'unpack', 'start', 'health', 'switch']);
      expect(fake.store.get('deployments', NS, 'shop')?.metadata.generation).toBe(generationBefore + 1);
      expect(podIds('shop')).toEqual([v2.deploymentId]);
      // The previous deployment's Secrets are gone; this one's stay for pod restarts.
      expect(secrets('shop')).toEqual([`shop-config-${v2.configVersionId}`, `shop-fetch-${v2.deploymentId}`]);
    } finally {
      fake.controller.opts.observeLagMs = 30;
    }
  });

  const classes: Array<[string, PodBehaviour, RolloutError['reason'], RegExp]> = [
    ['init fetch failure', { kind: 'init-fails', exitCode: 10, message: '{"ok":false,"outcome":"fetch_failed","message":"GET answered HTTP 401"}' }, 'fetch_failed', /HTTP 401/],
    ['digest mismatch', { kind: 'init-fails', exitCode: 11, message: '{"ok":false,"outcome":"digest_mismatch","message":"artifact sha256 is 00"}' }, 'digest_mismatch', /sha256 is 00/],
    ['refused archive', { kind: 'init-fails', exitCode: 12, message: 'archive refused: ../x: path contains ..' }, 'archive_refused', /\.\.\/x/],
    ['nothing to start', { kind: 'init-fails', exitCode: 13, message: '{"ok":false,"outcome":"no_start_command","message":"no start script"}' }, 'crashed_on_start', /no start script/],
    ['crash loop', { kind: 'crash', logs: ['starting v2', 'Error: missing DATABASE_URL'] }, 'crashed_on_start', /exit code 1/],
    ['never ready', { kind: 'never-ready' }, 'timeout', /ProgressDeadlineExceeded.*readiness/],
  ];
  it.each(classes)('%s: fails with its reason and puts the previous pod template back', async (_label, behaviour, reason, message) => {
    const app = `app-${reason.replaceAll('_', '-')}-${Math.floor(Math.random() * 1e6)}`;
    const v1 = deployment(app);
    await rollout(v1);
    const before = fake.store.get('deployments', NS, app)?.spec.template;
    const err = await failure(deployment(app, behaviour));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
    if (behaviour.kind === 'crash') expect(err.outputTail).toEqual(['starting v2', 'Error: missing DATABASE_URL']);
    expect(templateId(app)).toBe(v1.deploymentId);
    expect(fake.store.get('deployments', NS, app)?.spec.template).toEqual(before);
    expect(secrets(app)).toEqual([`${app}-config-${v1.configVersionId}`, `${app}-fetch-${v1.deploymentId}`]);
    // The controller scales the failed ReplicaSet away: only v1's pod is left.
    await until(() => podIds(app).every((id) => id === v1.deploymentId));
    expect(fake.store.get('deployments', NS, app)?.status.availableReplicas).toBe(1);
  });

  it('a first deployment that fails leaves nothing behind', async () => {
    const d = deployment('first-fail', { kind: 'init-fails', exitCode: 11, message: 'mismatch' });
    expect((await failure(d)).reason).toBe('digest_mismatch');
    expect(fake.store.get('deployments', NS, 'first-fail')).toBeUndefined();
    expect(fake.store.get('services', NS, 'first-fail')).toBeUndefined();
    expect(secrets('first-fail')).toEqual([]);
  });

  it('rides out transient API errors while watching, and surfaces persistent ones clearly', async () => {
    fake.failNext({ method: 'GET', path: /\/pods$/ }, { times: 2 });
    await rollout(deployment('flaky'));

    fake.failNext({ method: 'GET', path: /\/deployments\/broken$/ });
    const err = await driver.rollout(deployment('broken'), async () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubernetesApiError);
    expect((err as Error).message).toMatch(/get Deployment broken failed: Internal error occurred.*HTTP 500 InternalError/);
  });

  it('reports Invalid (422), Unauthorized (401) and an unreachable API server in plain words', async () => {
    const invalid = await newDriver({ image: '' }).rollout(deployment('bad-image'), async () => {}).catch((e: unknown) => e);
    expect((invalid as Error).message).toMatch(/apply Deployment bad-image failed: Deployment.apps "bad-image" is invalid: .*image: Invalid value: Required value \(HTTP 422 Invalid\)/);
    expect(fake.store.get('deployments', NS, 'bad-image')).toBeUndefined();

    const badToken = path.join(dir, 'bad-token.yaml');
    await writeFile(badToken, (await import('node:fs')).readFileSync(fake.kubeconfigPath, 'utf8').replace('fake-kube-token', 'wrong'));
    const unauthorized = await newDriver({}, badToken).stop('web').catch((e: unknown) => e);
    expect((unauthorized as Error).message).toMatch(/delete Deployment web failed: .*HTTP 401/);

    const gone = path.join(dir, 'gone.yaml');
    await writeFile(gone, (await import('node:fs')).readFileSync(fake.kubeconfigPath, 'utf8').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9'));
    const unreachable = await newDriver({}, gone).rollout(deployment('web'), async () => {}).catch((e: unknown) => e);
    expect((unreachable as Error).message).toMatch(/API server unreachable \(ECONNREFUSED\)/);
  });
});

describe('kubernetes driver: logs', () => {
  const d = deployment('logs', undefined, { instances: 2 });
  let pods: string[];
  const collect = async (q: Parameters<RuntimeDriver['logs']>[1]) => {
    const out: LogEntry[] = [];
    for await (const e of driver.logs({ appName: 'logs', deploymentId: d.deploymentId }, q)) out.push(e);
    return out;
  };

  beforeAll(async () => {
    await rollout(d);
    pods = fake.store.list('pods', NS, (l) => l.deployment_id === d.deploymentId).map((p) => p.metadata.name);
    expect(pods).toHaveLength(2);
    const [a, b] = pods as [string, string];
    // An old line, then interleaved lines from both pods and one init-container line.
    fake.controller.logs.set(`${NS}/${a}/app`, [{ ns: BigInt(Date.now() - 600_000) * 1_000_000n, text: 'ten minutes ago' }]);
    for (let i = 0; i < 6; i++) fake.controller.appendLog(NS, i % 2 ? b : a, 'app', `line ${i}`);
    fake.controller.appendLog(NS, a, 'fetch-artifact', 'fetch: fetched 1234 bytes');
  });

  it('merges both pods by timestamp, with tail, since and container', async () => {
    const [a, b] = pods as [string, string];
    const all = await collect({ tail: 100, follow: false });
    expect(all.map((e) => e.line)).toEqual(['ten minutes ago', 'line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(all.slice(1).map((e) => e.source)).toEqual([`${a}/app`, `${b}/app`, `${a}/app`, `${b}/app`, `${a}/app`, `${b}/app`]);
    const times = all.map((e) => e.time as string);
    expect([...times].sort()).toEqual(times);
    expect(times.every((t) => !Number.isNaN(Date.parse(t)))).toBe(true);

    expect((await collect({ tail: 3, follow: false })).map((e) => e.line)).toEqual(['line 3', 'line 4', 'line 5']);
    expect((await collect({ tail: 100, follow: false, sinceSecs: 60 })).map((e) => e.line)).not.toContain('ten minutes ago');
    const init = await collect({ tail: 10, follow: false, container: 'fetch-artifact' });
    expect(init).toEqual([expect.objectContaining({ source: `${a}/fetch-artifact`, line: 'fetch: fetched 1234 bytes' })]);
    await expect(collect({ tail: 10, follow: false, container: 'Bad Name' })).rejects.toThrow(/invalid container/);
    await expect(collect({ tail: 10, follow: false, container: 'sidecar' })).rejects.toThrow(/container sidecar is not valid for pod .*HTTP 400 BadRequest/);
    // A deployment without pods (stopped, never started) has no output here, even followed.
    const none: LogEntry[] = [];
    for await (const e of driver.logs({ appName: 'logs', deploymentId: randomUUID() }, { tail: 10, follow: true })) none.push(e);
    expect(none).toEqual([]);
  });

  it('follows new lines from both pods, resuming after a dropped connection without repeats', async () => {
    const [a, b] = pods as [string, string];
    const abort = new AbortController();
    const got: LogEntry[] = [];
    const reading = (async () => {
      for await (const e of driver.logs({ appName: 'logs', deploymentId: d.deploymentId }, { tail: 1, follow: true, signal: abort.signal })) {
        got.push(e);
        if (got.length === 5) abort.abort();
      }
    })();
    await until(() => got.length === 1);
    fake.controller.appendLog(NS, a, 'app', 'live a1');
    fake.controller.appendLog(NS, b, 'app', 'live b1');
    await until(() => got.length === 3);
    fake.dropLogStreams();
    await new Promise((r) => setTimeout(r, 100));
    fake.controller.appendLog(NS, a, 'app', 'after drop a2');
    fake.controller.appendLog(NS, b, 'app', 'after drop b2');
    await reading;
    expect(got[0]?.line).toBe('line 5');
    expect(got.slice(1, 3).map((e) => e.line).sort()).toEqual(['live a1', 'live b1']);
    expect(got.slice(3).map((e) => e.line).sort()).toEqual(['after drop a2', 'after drop b2']);
  });
});

describe('kubernetes driver: stop and restore', () => {
  it('restore leaves a running deployment alone and re-applies a missing one', async () => {
    const live = deployment('keeper');
    await rollout(live);
    const generation = fake.store.get('deployments', NS, 'keeper')?.metadata.generation;
    const lost = deployment('lost');
    await rollout(lost);
    // Someone deleted it (kubectl delete): its ReplicaSets and pods go with it.
    const removed = fake.store.delete('deployments', NS, 'lost');
    fake.controller.deleteOwned(NS, removed.metadata.uid);
    fake.store.delete('services', NS, 'lost');
    const broken = deployment('never', { kind: 'crash', logs: ['boom'] });

    const outcomes = await driver.restore([live, lost, broken]);
    expect(outcomes).toEqual([
      { deploymentId: live.deploymentId, url: 'http://keeper.aether-apps.svc.cluster.local:80', error: null },
      { deploymentId: lost.deploymentId, url: 'http://lost.aether-apps.svc.cluster.local:80', error: null },
      { deploymentId: broken.deploymentId, url: null, error: expect.stringMatching(/^crashed_on_start: /) },
    ]);
    expect(fake.store.get('deployments', NS, 'keeper')?.metadata.generation).toBe(generation);
    expect(templateId('lost')).toBe(lost.deploymentId);
    expect(fake.store.get('services', NS, 'lost')).toBeDefined();
    expect(fake.store.get('deployments', NS, 'never')).toBeUndefined();
  });

  it('restore never undoes a rollout that another worker has in flight', async () => {
    const running = deployment('busy');
    await rollout(running);
    // Another worker has applied the next deployment's template (with its fetch Secret) and
    // is watching it when this worker starts and restores what the database says runs.
    const next = deployment('busy');
    const inFlight = rollout(next);
    await vi.waitFor(() => expect(templateId('busy')).toBe(next.deploymentId), { timeout: 10_000 });
    const generation = fake.store.get('deployments', NS, 'busy')?.metadata.generation;

    expect(await driver.restore([running])).toEqual([{ deploymentId: running.deploymentId, url: 'http://busy.aether-apps.svc.cluster.local:80', error: null }]);
    expect(templateId('busy')).toBe(next.deploymentId);
    expect(fake.store.get('deployments', NS, 'busy')?.metadata.generation).toBe(generation);
    await inFlight;
    expect(templateId('busy')).toBe(next.deploymentId);
  });

  it('stop deletes the Deployment, Service, Secrets and pods; stopping again is a no-op', async () => {
    await rollout(deployment('gone'));
    await driver.stop('gone');
    expect(fake.store.get('deployments', NS, 'gone')).toBeUndefined();
    expect(fake.store.get('services', NS, 'gone')).toBeUndefined();
    expect(secrets('gone')).toEqual([]);
    expect(podIds('gone')).toEqual([]);
    await driver.stop('gone');
    await expect(driver.stop('Not_Valid')).rejects.toThrow(/DNS-1123/);
  });
});

describe('kubernetes driver: config and settings', () => {
  const decode = (data: Record<string, string> | undefined) =>
    Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  type Container = { name: string; args?: string[]; env?: Array<{ name: string; value?: string }>; envFrom?: unknown; [k: string]: unknown };

  it('puts the config in one immutable Secret read through envFrom by the app container only, with the release settings', async () => {
    const canary = `canary-${randomUUID()}`;
    const env = { DATABASE_URL: 'postgres://app@db:5432/app', API_KEY: canary, NODE_ENV: 'staging' };
    const settings = { startCommand: 'node worker.js --port "$PORT"', healthPath: '/ready', healthTimeoutMs: 20_000 };
    const d = deployment('cfg', undefined, { env, settings });
    const seen = fake.requests.length;
    const { phases } = await rollout(d);

    const name = `cfg-config-${d.configVersionId}`;
    const secret = fake.store.get('secrets', NS, name);
    expect(secret?.immutable).toBe(true);
    expect(secret?.type).toBe('Opaque');
    expect(secret?.metadata.labels).toEqual({ app: 'aether', app_name: 'cfg', config_version_id: d.configVersionId });
    expect(decode(secret?.data)).toEqual(env);
    // Created before the workload that reads it.
    const writes = fake.requests.slice(seen).filter((r) => r.method === 'PATCH').map((r) => r.path.split('/').slice(-2).join('/'));
    expect(writes).toEqual([`secrets/cfg-fetch-${d.deploymentId}`, `secrets/${name}`, 'services/cfg', 'deployments/cfg']);

    const dep = fake.store.get('deployments', NS, 'cfg');
    const pod = dep?.spec.template.spec as { initContainers: Container[]; containers: Container[] };
    const [init] = pod.initContainers;
    const [app] = pod.containers;
    expect(app?.envFrom).toEqual([{ secretRef: { name } }]);
    expect(init?.envFrom).toBeUndefined();
    expect(JSON.stringify(init)).not.toContain(name);
    expect(JSON.stringify(dep)).not.toContain(canary);
    // The driver's variables are listed (and so win over envFrom); NODE_ENV is left to the config.
    expect(app?.env?.map((e) => e.name)).toEqual(['PORT', 'AETHER_APP', 'AETHER_DEPLOYMENT_ID', 'AETHER_DIGEST', 'HOME', 'npm_config_cache', 'npm_config_update_notifier']);
    expect(app?.args).toEqual(['sh', '-c', settings.startCommand]);
    expect(init?.env?.find((e) => e.name === 'AETHER_SKIP_START_CHECK')).toEqual({ name: 'AETHER_SKIP_START_CHECK', value: 'true' });
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect((app?.[probe] as { httpGet: { path: string } }).httpGet.path).toBe('/ready');
    }
    // 20 s at one probe every 2 s.
    expect((app?.startupProbe as { failureThreshold: number }).failureThreshold).toBe(10);
    expect(dep?.spec.progressDeadlineSeconds).toBe(20);
    expect(phases.find((p) => p.phase === 'health')?.message).toMatch(/readiness probe \(GET \/ready\)$/);
    for (const text of [...phases.map((p) => p.message), ...logged, ...fake.requests.map((r) => `${r.path}?${JSON.stringify(r.query)}`)]) {
      expect(text).not.toContain(canary);
    }
  });

  it('without config or settings: an empty Secret, npm start, NODE_ENV=production and the driver-wide probe path', async () => {
    const d = deployment('plain-cfg');
    await rollout(d);
    expect(decode(fake.store.get('secrets', NS, `plain-cfg-config-${d.configVersionId}`)?.data)).toEqual({});
    const [app] = (fake.store.get('deployments', NS, 'plain-cfg')?.spec.template.spec.containers ?? []) as Container[];
    expect(app?.args).toEqual(['npm', 'start']);
    expect(app?.env?.find((e) => e.name === 'NODE_ENV')).toEqual({ name: 'NODE_ENV', value: 'production' });
    expect((app?.readinessProbe as { httpGet: { path: string } }).httpGet.path).toBe('/');
  });

  it("removes a config version's Secret with the last release that used it, and keeps a shared one", async () => {
    const cvA = randomUUID();
    const cvB = randomUUID();
    const a1 = deployment('rel', undefined, { configVersionId: cvA, env: { V: 'a' } });
    await rollout(a1);
    // A new artifact with the same config version: the Secret is shared, and stays.
    const a2 = deployment('rel', undefined, { configVersionId: cvA, env: { V: 'a' } });
    await rollout(a2);
    expect(secrets('rel')).toEqual([`rel-config-${cvA}`, `rel-fetch-${a2.deploymentId}`]);
    // Another config version replaces it: the old one's Secret goes.
    const b1 = deployment('rel', undefined, { configVersionId: cvB, env: { V: 'b' } });
    await rollout(b1);
    expect(secrets('rel')).toEqual([`rel-config-${cvB}`, `rel-fetch-${b1.deploymentId}`]);
    // A failed release with a config of its own takes its Secret with it; b1's stays.
    const failed = deployment('rel', { kind: 'crash', logs: ['boom'] }, { env: { V: 'c' } });
    expect((await failure(failed)).reason).toBe('crashed_on_start');
    expect(secrets('rel')).toEqual([`rel-config-${cvB}`, `rel-fetch-${b1.deploymentId}`]);
    // A failed release of the live config version leaves that version's Secret alone.
    const failedShared = deployment('rel', { kind: 'crash', logs: ['boom'] }, { configVersionId: cvB, env: { V: 'b' } });
    expect((await failure(failedShared)).reason).toBe('crashed_on_start');
    expect(secrets('rel')).toEqual([`rel-config-${cvB}`, `rel-fetch-${b1.deploymentId}`]);
    expect(fake.store.get('deployments', NS, 'rel')?.spec.template.spec.containers[0].envFrom).toEqual([{ secretRef: { name: `rel-config-${cvB}` } }]);
    // A rollback to a1 brings back its config version's Secret, with the same content.
    await rollout({ ...a1, deploymentId: randomUUID() });
    expect(decode(fake.store.get('secrets', NS, `rel-config-${cvA}`)?.data)).toEqual({ V: 'a' });
    expect(secrets('rel').filter((n) => n.includes('-config-'))).toEqual([`rel-config-${cvA}`]);

    await driver.stop('rel');
    expect(secrets('rel')).toEqual([]);
  });

  it('restore re-creates the config Secret of a workload that is gone', async () => {
    const d = deployment('relost', undefined, { env: { K: 'v' } });
    await rollout(d);
    const removed = fake.store.delete('deployments', NS, 'relost');
    fake.controller.deleteOwned(NS, removed.metadata.uid);
    fake.store.delete('secrets', NS, `relost-config-${d.configVersionId}`);
    expect(await driver.restore([d])).toEqual([{ deploymentId: d.deploymentId, url: 'http://relost.aether-apps.svc.cluster.local:80', error: null }]);
    expect(decode(fake.store.get('secrets', NS, `relost-config-${d.configVersionId}`)?.data)).toEqual({ K: 'v' });
  });

  it('refuses a config past the 1 MiB a Secret holds before calling the API, and the live release stays', async () => {
    const live = deployment('big');
    await rollout(live);
    const value = 'x'.repeat(512 * 1024);
    const big = deployment('big', undefined, { env: { A: value, B: value } });
    const seen = fake.requests.length;
    const err = await failure(big);
    expect(err.reason).toBe('config_too_large');
    expect(err.message).toBe('the config (2 variables, 1048578 bytes) does not fit a Kubernetes Secret, which holds at most 1048576 bytes');
    expect(fake.requests.length).toBe(seen);
    expect(templateId('big')).toBe(live.deploymentId);
    // Exactly 1 MiB fits.
    const fits = deployment('big', undefined, { env: { A: value, B: value.slice(2) } });
    await rollout(fits);
    expect(templateId('big')).toBe(fits.deploymentId);
  });

  it('the fake API server holds Secrets to their rules: immutable stays immutable, 1 MiB at most', async () => {
    const api = new KubeApi(loadKubeConfig(fake.kubeconfigPath), NS);
    const d = deployment('imm', undefined, { env: { K: 'one' } });
    await rollout(d);
    const changed = await api.apply(buildConfigSecret({ ...d, env: { K: 'two' } }, cfg)).catch((e: unknown) => e);
    expect(changed).toMatchObject({ status: 422, reason: 'Invalid' });
    expect((changed as Error).message).toMatch(/field is immutable when `immutable` is set/);
    const oversize = await api.apply(buildConfigSecret({ ...d, configVersionId: randomUUID(), env: { K: 'x'.repeat(1024 * 1024) } }, cfg)).catch((e: unknown) => e);
    expect(oversize).toMatchObject({ status: 422, reason: 'Invalid' });
  });

  it('the RBAC rules let the driver create, list and delete Secrets, and nothing more of them', () => {
    expect(KUBERNETES_RBAC_RULES.filter((r) => r.resources.includes('secrets'))).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch', 'list', 'delete'] },
    ]);
  });
});

describe('fake API server: protocol', () => {
  it('answers Status errors: NotFound, Conflict on a stale resourceVersion, Invalid on an immutable field, 415 for JSON patch', async () => {
    const api = new KubeApi(loadKubeConfig(fake.kubeconfigPath), NS);
    expect(await api.getDeployment('nope')).toBeNull();
    expect(await api.delete('Secret', 'nope')).toBe(false);
    await rollout(deployment('proto'));
    const stale = (await api.getDeployment('proto')) as NonNullable<Awaited<ReturnType<KubeApi['getDeployment']>>>;
    await api.apply(buildDeployment(deployment('proto'), cfg));
    const conflict = await api.replaceDeployment(stale).catch((e: unknown) => e);
    expect(conflict).toMatchObject({ status: 409, reason: 'Conflict' });
    expect((conflict as Error).message).toMatch(/the object has been modified/);

    const moved = buildDeployment(deployment('proto'), cfg) as { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } } };
    moved.spec.selector.matchLabels.tier = 'web';
    moved.spec.template.metadata.labels.tier = 'web';
    const immutable = await api.apply(moved).catch((e: unknown) => e);
    expect(immutable).toMatchObject({ status: 422, reason: 'Invalid' });
    expect((immutable as Error).message).toMatch(/spec.selector: Invalid value: field is immutable/);

    const jsonPatch = await fetch(`${fake.url}/apis/apps/v1/namespaces/${NS}/deployments/proto`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer fake-kube-token', 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/spec/replicas', value: 3 }]),
    });
    expect(jsonPatch.status).toBe(415);
    expect(await jsonPatch.json()).toMatchObject({ kind: 'Status', reason: 'UnsupportedMediaType', code: 415 });
  });
});

describe('kubernetes driver: Ingress and PodDisruptionBudget', () => {
  it('are written by server-side apply like the other objects, under their own API groups', async () => {
    const seen = fake.requests.length;
    const d = deployment('routed', undefined, { instances: 2 });
    const { url } = await rollout(d, newDriver({ ingress: { domain: 'apps.example.com', tlsSecret: 'wildcard' } }));
    expect(url).toBe('https://routed.apps.example.com');
    const writes = fake.requests.slice(seen).filter((r) => r.method === 'PATCH');
    expect(writes.map((r) => r.path)).toEqual([
      `/api/v1/namespaces/${NS}/secrets/routed-fetch-${d.deploymentId}`,
      `/api/v1/namespaces/${NS}/secrets/routed-config-${d.configVersionId}`,
      `/api/v1/namespaces/${NS}/services/routed`,
      `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/routed`,
      `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets/routed`,
      `/apis/apps/v1/namespaces/${NS}/deployments/routed`,
    ]);
    for (const w of writes) {
      expect(w.contentType).toBe('application/apply-patch+yaml');
      expect(w.query).toMatchObject({ fieldManager: 'aether-control-plane', force: 'true' });
    }
    // Applied again (a redeploy): patched in place, no second object.
    await rollout(deployment('routed', undefined, { instances: 2 }), newDriver({ ingress: { domain: 'apps.example.com' } }));
    expect(fake.store.list('ingresses', NS).filter((i) => i.metadata.name === 'routed')).toHaveLength(1);
    expect(fake.store.get('ingresses', NS, 'routed')?.spec.tls).toBeUndefined();
  });
});

// Last, over everything this file made the driver do: run the file as a whole.
describe('kubernetes driver: RBAC', () => {
  it('used exactly the verbs of KUBERNETES_RBAC_RULES (all of them, nothing else)', () => {
    const declared = KUBERNETES_RBAC_RULES.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups[0]}/${res}:${v}`)));
    expect([...fake.used].sort()).toEqual(declared.sort());
  });
});
