import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesRuntime } from '../../server/runtime/kubernetes.driver';
import type { KubernetesRuntimeConfig } from '../../server/runtime/kubernetes/config';
import { KubeApi, loadKubeConfig } from '../../server/runtime/kubernetes/client';
import { buildPodDisruptionBudget } from '../../server/runtime/kubernetes/disruption-budget';
import { buildIngress } from '../../server/runtime/kubernetes/ingress';
import { fetchTokenKey } from '../../server/runtime/kubernetes/fetch-token';
import type { RuntimeDeployment, RuntimeDriver, RuntimeStatus } from '../../server/runtime/port';
import { startFakeKube, type FakeKube, type PodBehaviour } from '../support/fake-kube/index';
import { DEFAULT_RELEASE_SETTINGS, runtimeDeployment } from '../support/runtime-deployment';

// Scale, rolling restart, status and the per-app Ingress of the Kubernetes driver, against the
// fake API server (tests/support/fake-kube) over real HTTP. One "second" of a deadline lasts
// 100 ms there.

const NS = 'aether-apps';
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

const newDriver = (over: Partial<KubernetesRuntimeConfig> = {}, graceMs = 3000) =>
  createKubernetesRuntime({
    kubeConfig: loadKubeConfig(fake.kubeconfigPath),
    config: { ...cfg, ...over },
    fetchTokenKey: fetchTokenKey('k8s-test-secret-0123456789abcdef0123'),
    pollMs: 15,
    graceMs,
  });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aether-k8s-life-'));
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

const live = (app: string) => fake.store.get('deployments', NS, app);
const pdb = (app: string) => fake.store.get('poddisruptionbudgets', NS, app);
const ingress = (app: string) => fake.store.get('ingresses', NS, app);
const pods = (app: string) => fake.store.list('pods', NS, (l) => l.app_name === app);
const readyPods = (app: string) => pods(app).filter((p) => fake.controller.sims.get(`${NS}/${p.metadata.name}`)?.stage === 'ready');
const patchesOf = (app: string, since: number) =>
  fake.requests.slice(since).filter((r) => r.method === 'PATCH' && r.path.endsWith(`/deployments/${app}`));

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const summary = (s: RuntimeStatus) => ({ health: s.health, ready: s.instances.filter((i) => i.ready).length, count: s.instances.length });

describe('kubernetes driver: scale', () => {
  it('replicas follow scale (merge patch), with a PodDisruptionBudget only past one replica', async () => {
    const d = deployment('scaled');
    await driver.rollout(d, async () => {});
    expect(live('scaled')?.spec.replicas).toBe(1);
    expect(pdb('scaled')).toBeUndefined();

    const seen = fake.requests.length;
    const three = await driver.scale({ ...d, instances: 3 });
    expect(live('scaled')?.spec.replicas).toBe(3);
    expect(summary(three)).toEqual({ health: 'healthy', ready: 3, count: 3 });
    expect(new Set(three.instances.map((i) => i.id))).toEqual(new Set(pods('scaled').map((p) => p.metadata.name)));
    expect(three.instances.every((i) => i.restarts === 0)).toBe(true);
    // Only replicas changed, by a JSON merge patch (never a JSON patch, never a whole re-apply).
    expect(patchesOf('scaled', seen).map((r) => r.contentType)).toEqual(['application/merge-patch+json']);
    expect(live('scaled')?.spec.template.metadata.labels.deployment_id).toBe(d.deploymentId);
    expect(pdb('scaled')?.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: 'aether', app_name: 'scaled' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(pdb('scaled')?.metadata.labels).toEqual({ app: 'aether', app_name: 'scaled' });

    expect(summary(await driver.scale({ ...d, instances: 1 }))).toEqual({ health: 'healthy', ready: 1, count: 1 });
    expect(pdb('scaled')).toBeUndefined();
    expect(pods('scaled')).toHaveLength(1);

    const stopped = await driver.scale({ ...d, instances: 0 });
    expect(stopped).toEqual({ health: 'stopped', instances: [] });
    expect(live('scaled')?.spec.replicas).toBe(0);
    expect(pods('scaled')).toEqual([]);
    // Stopped, not gone: the release stays current and its objects stay.
    expect(fake.store.get('services', NS, 'scaled')).toBeDefined();

    expect(summary(await driver.scale({ ...d, instances: 2 }))).toEqual({ health: 'healthy', ready: 2, count: 2 });
    expect(pdb('scaled')).toBeDefined();
    await driver.stop('scaled');
    expect(pdb('scaled')).toBeUndefined();
    expect(live('scaled')).toBeUndefined();
  });

  it('a rollout at a scale applies that many replicas and the budget; instances 0 rolls out a stopped app', async () => {
    const d = deployment('wide', undefined, { instances: 3 });
    await driver.rollout(d, async () => {});
    expect(live('wide')?.spec.replicas).toBe(3);
    expect(readyPods('wide')).toHaveLength(3);
    expect(pdb('wide')).toBeDefined();
    const next = deployment('wide', undefined, { instances: 0 });
    await driver.rollout(next, async () => {});
    expect(live('wide')?.spec.replicas).toBe(0);
    expect(pdb('wide')).toBeUndefined();
    expect(await driver.status(next)).toEqual({ health: 'stopped', instances: [] });
  });

  it('status while scaling: restarting with none ready yet, degraded with some, healthy once all are', async () => {
    const d = deployment('slow', { kind: 'ok', readyMs: 400 });
    await driver.rollout({ ...d, instances: 0 }, async () => {});
    const up = driver.scale({ ...d, instances: 1 });
    await until(() => pods('slow').length === 1);
    expect(summary(await driver.status(d))).toEqual({ health: 'restarting', ready: 0, count: 1 });
    expect(summary(await up)).toEqual({ health: 'healthy', ready: 1, count: 1 });

    const more = driver.scale({ ...d, instances: 3 });
    await until(() => pods('slow').length === 3);
    expect(summary(await driver.status(d))).toEqual({ health: 'degraded', ready: 1, count: 3 });
    expect(summary(await more)).toEqual({ health: 'healthy', ready: 3, count: 3 });
  });

  it('a Deployment deleted out of band is applied again at the scale asked', async () => {
    const d = deployment('lost');
    await driver.rollout(d, async () => {});
    fake.controller.deleteOwned(NS, live('lost')?.metadata.uid as string);
    fake.store.delete('deployments', NS, 'lost');
    expect(summary(await driver.scale({ ...d, instances: 2 }))).toEqual({ health: 'healthy', ready: 2, count: 2 });
    expect(live('lost')?.spec.replicas).toBe(2);
  });
});

describe('kubernetes driver: scale when the API server fails', () => {
  it('rejects with the API error; the count stays what it was and keeps its budget', async () => {
    const d = deployment('flaky');
    await driver.rollout(d, async () => {});
    fake.failNext({ method: 'PATCH', path: /\/deployments\/flaky$/ }, { status: 500 });
    await expect(driver.scale({ ...d, instances: 2 })).rejects.toMatchObject({ name: 'KubernetesApiError', status: 500 });
    expect(live('flaky')?.spec.replicas).toBe(1);
    await driver.scale({ ...d, instances: 3 });
    // Scaling down, the budget goes only once the count did: 3 pods never run without it.
    fake.failNext({ method: 'PATCH', path: /\/deployments\/flaky$/ }, { status: 500 });
    await expect(driver.scale({ ...d, instances: 1 })).rejects.toMatchObject({ status: 500 });
    expect(live('flaky')?.spec.replicas).toBe(3);
    expect(pdb('flaky')).toBeDefined();
  });
});

describe('kubernetes driver: status', () => {
  it('crash_loop when a pod waits in CrashLoopBackOff, with its restarts; scale does not wait out the deadline for it', async () => {
    const d = deployment('crashy');
    await driver.rollout(d, async () => {});
    // Pods created from now on crash: the one already running keeps serving.
    fake.behave(d.deploymentId, { kind: 'crash', logs: ['boom'], exitCode: 3 });
    const started = Date.now();
    const status = await driver.scale({ ...d, instances: 2 });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(status.health).toBe('crash_loop');
    expect(status.instances.map((i) => [i.ready, i.restarts]).sort()).toEqual([
      [false, 1],
      [true, 0],
    ]);
  });

  it('a release the Deployment no longer runs is stopped; an app never deployed is stopped with no instances', async () => {
    const v1 = deployment('moved');
    await driver.rollout(v1, async () => {});
    const v2 = deployment('moved');
    await driver.rollout(v2, async () => {});
    expect(await driver.status(v1)).toEqual({ health: 'stopped', instances: [] });
    expect(summary(await driver.status(v2))).toEqual({ health: 'healthy', ready: 1, count: 1 });
    expect(await driver.status({ appName: 'never', deploymentId: randomUUID() })).toEqual({ health: 'stopped', instances: [] });
  });
});

// A progress deadline of 1 s (the release's health timeout raises it otherwise).
const oneSecond = { ...DEFAULT_RELEASE_SETTINGS, healthTimeoutMs: 1000 };

describe('kubernetes driver: rolling restart', () => {
  it('stamps the pod template by merge patch and replaces every pod, never fewer ready than wanted (maxUnavailable 0), one extra at a time (maxSurge 1)', async () => {
    const d = deployment('bounce', { kind: 'ok', readyMs: 60 }, { instances: 3 });
    await driver.rollout(d, async () => {});
    expect(live('bounce')?.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const before = pods('bounce').map((p) => p.metadata.name);
    const generation = live('bounce')?.metadata.generation as number;

    let fewestReady = Number.POSITIVE_INFINITY;
    let mostPods = 0;
    const sampler = setInterval(() => {
      fewestReady = Math.min(fewestReady, readyPods('bounce').length);
      mostPods = Math.max(mostPods, pods('bounce').length);
    }, 2);
    const seen = fake.requests.length;
    const t0 = Date.now();
    let status: RuntimeStatus;
    try {
      status = await driver.restart(d);
    } finally {
      clearInterval(sampler);
    }
    expect(patchesOf('bounce', seen).map((r) => r.contentType)).toEqual(['application/merge-patch+json']);
    const annotations = live('bounce')?.spec.template.metadata.annotations ?? {};
    const stamped = Date.parse(annotations['aether.dev/restarted-at']);
    expect(stamped).toBeGreaterThanOrEqual(t0 - 5);
    expect(stamped).toBeLessThanOrEqual(Date.now());
    // The rest of the template is untouched: same release, same digest.
    expect(annotations['aether.dev/digest']).toBe(`sha256:${d.digest}`);
    expect(live('bounce')?.spec.template.metadata.labels.deployment_id).toBe(d.deploymentId);
    expect(live('bounce')?.metadata.generation).toBe(generation + 1);

    const after = pods('bounce').map((p) => p.metadata.name);
    expect(after).toHaveLength(3);
    expect(after.filter((p) => before.includes(p))).toEqual([]);
    expect(summary(status)).toEqual({ health: 'healthy', ready: 3, count: 3 });
    expect(fewestReady).toBe(3);
    // maxSurge 1: one pod at a time beyond the wanted count.
    expect(mostPods).toBe(4);
  });

  it('the fake controller honours maxUnavailable: with 1 it would drop below the wanted count', async () => {
    // Guards the test above: it could not fail if the fake kept old pods regardless.
    const d = deployment('loose', { kind: 'ok', readyMs: 60 }, { instances: 2 });
    await driver.rollout(d, async () => {});
    const dep = live('loose') as NonNullable<ReturnType<typeof live>>;
    dep.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } };
    fake.store.put('deployments', NS, dep);
    let fewestReady = Number.POSITIVE_INFINITY;
    const sampler = setInterval(() => (fewestReady = Math.min(fewestReady, readyPods('loose').length)), 2);
    try {
      await driver.restart(d);
    } finally {
      clearInterval(sampler);
    }
    expect(fewestReady).toBeLessThan(2);
  });

  it('a restart whose new pod never gets ready fails with timeout at the progress deadline; status counts only the new pod', async () => {
    const quick = newDriver({ progressDeadlineSecs: 1 }, 200);
    const d = deployment('stuck', undefined, { settings: oneSecond });
    await quick.rollout(d, async () => {});
    const [old] = pods('stuck').map((p) => p.metadata.name);
    // Pods created from now on start but never pass their readiness probe.
    fake.behave(d.deploymentId, { kind: 'never-ready' });
    const err = await quick.restart(d).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'RolloutError', reason: 'timeout' });
    expect((err as Error).message).toBe(
      'the rolling restart did not finish within the progress deadline (1 s): 0 of 1 new pod(s) ready; Kubernetes keeps trying',
    );
    // maxUnavailable 0: the old pod still serves, but it is not the release's current template.
    expect(readyPods('stuck').map((p) => p.metadata.name)).toEqual([old]);
    const status = await quick.status(d);
    expect(summary(status)).toEqual({ health: 'restarting', ready: 0, count: 1 });
    expect(status.instances.map((i) => i.id)).not.toContain(old);
  });

  it('a scale whose new pods never get ready fails with timeout; status is degraded, not healthy', async () => {
    const quick = newDriver({ progressDeadlineSecs: 1 }, 200);
    const d = deployment('stuckup', undefined, { settings: oneSecond });
    await quick.rollout(d, async () => {});
    fake.behave(d.deploymentId, { kind: 'never-ready' });
    const err = await quick.scale({ ...d, instances: 2 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'RolloutError', reason: 'timeout' });
    expect((err as Error).message).toBe(
      'scaling to 2 did not finish within the progress deadline (1 s): 1 of 2 new pod(s) ready; Kubernetes keeps trying',
    );
    expect(summary(await quick.status(d))).toEqual({ health: 'degraded', ready: 1, count: 2 });
  });

  it('a stopped app has nothing to restart', async () => {
    const d = deployment('idle', undefined, { instances: 0 });
    await driver.rollout(d, async () => {});
    const seen = fake.requests.length;
    expect(await driver.restart(d)).toEqual({ health: 'stopped', instances: [] });
    expect(patchesOf('idle', seen)).toEqual([]);
    expect(live('idle')?.spec.template.metadata.annotations['aether.dev/restarted-at']).toBeUndefined();
  });
});

describe('kubernetes driver: Ingress', () => {
  it('with a domain only: http://<app>.<domain> to the Service, no class, no TLS', async () => {
    const drv = newDriver({ ingress: { domain: 'apps.example.com' } });
    const { url } = await drv.rollout(deployment('site'), async () => {});
    expect(url).toBe('http://site.apps.example.com');
    const ing = ingress('site');
    expect(ing?.apiVersion).toBe('networking.k8s.io/v1');
    expect(ing?.metadata.labels).toEqual({ app: 'aether', app_name: 'site' });
    expect(ing?.spec).toEqual({
      rules: [
        {
          host: 'site.apps.example.com',
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'site', port: { number: 80 } } } }] },
        },
      ],
    });
  });

  it('with a class and a TLS secret: https, ingressClassName and tls for that host; the name of a digit-led app follows its Service', async () => {
    const drv = newDriver({ ingress: { domain: 'apps.example.com', className: 'nginx', tlsSecret: 'wildcard-apps' } });
    const { url } = await drv.rollout(deployment('9lives'), async () => {});
    expect(url).toBe('https://9lives.apps.example.com');
    const ing = ingress('app-9lives');
    expect(ing?.spec.ingressClassName).toBe('nginx');
    expect(ing?.spec.tls).toEqual([{ hosts: ['9lives.apps.example.com'], secretName: 'wildcard-apps' }]);
    expect(ing?.spec.rules[0].http.paths[0].backend.service.name).toBe(fake.store.get('services', NS, 'app-9lives')?.metadata.name);
    // restore after a control-plane restart gives the same URL.
    const [restored] = await drv.restore([{ ...deployment('9lives'), deploymentId: live('app-9lives')?.spec.template.metadata.labels.deployment_id }]);
    expect(restored?.url).toBe('https://9lives.apps.example.com');
  });

  it('a rollout without a domain removes an Ingress left from before; stop removes it too', async () => {
    await newDriver({ ingress: { domain: 'apps.example.com' } }).rollout(deployment('undomained'), async () => {});
    expect(ingress('undomained')).toBeDefined();
    const { url } = await driver.rollout(deployment('undomained'), async () => {});
    expect(url).toBe('http://undomained.aether-apps.svc.cluster.local:80');
    expect(ingress('undomained')).toBeUndefined();

    await newDriver({ ingress: { domain: 'apps.example.com' } }).rollout(deployment('gone', undefined, { instances: 2 }), async () => {});
    expect(ingress('gone')).toBeDefined();
    expect(pdb('gone')).toBeDefined();
    await driver.stop('gone');
    expect(ingress('gone')).toBeUndefined();
    expect(pdb('gone')).toBeUndefined();
  });

  it('a first rollout that fails leaves no Ingress or budget behind', async () => {
    const drv = newDriver({ ingress: { domain: 'apps.example.com' } });
    const d = deployment('doomed', { kind: 'crash', logs: ['no'] }, { instances: 2 });
    await expect(drv.rollout(d, async () => {})).rejects.toMatchObject({ reason: 'crashed_on_start' });
    expect(ingress('doomed')).toBeUndefined();
    expect(pdb('doomed')).toBeUndefined();
    expect(live('doomed')).toBeUndefined();
  });
});

describe('kubernetes driver: a Role from before Ingress and PodDisruptionBudget', () => {
  it('deploys and stops when deleting those kinds is forbidden (403), with a warning naming the missing rule', async () => {
    const warnings: string[] = [];
    const old = createKubernetesRuntime({
      kubeConfig: loadKubeConfig(fake.kubeconfigPath),
      config: cfg,
      fetchTokenKey: fetchTokenKey('k8s-test-secret-0123456789abcdef0123'),
      pollMs: 15,
      graceMs: 3000,
      log: (msg) => warnings.push(msg),
    });
    const refused = ['networking.k8s.io/ingresses:delete', 'policy/poddisruptionbudgets:delete'];
    for (const rule of refused) fake.denied.add(rule);
    try {
      const d = deployment('oldrole');
      const seen = fake.requests.length;
      await expect(old.rollout(d, async () => {})).resolves.toEqual({ url: 'http://oldrole.aether-apps.svc.cluster.local:80' });
      // The deletes were really attempted and refused, not skipped.
      const deletes = fake.requests.slice(seen).filter((r) => r.method === 'DELETE').map((r) => r.path.split('/').slice(-2)[0]);
      expect(deletes).toEqual(expect.arrayContaining(['ingresses', 'poddisruptionbudgets']));
      expect(warnings).toContain(
        'kubernetes: not allowed to delete Ingress oldrole; treated as absent. Add the Role rule: apiGroups [networking.k8s.io], resources [ingresses], verb delete',
      );
      expect(warnings).toContain(
        'kubernetes: not allowed to delete PodDisruptionBudget oldrole; treated as absent. Add the Role rule: apiGroups [policy], resources [poddisruptionbudgets], verb delete',
      );
      expect(live('oldrole')).toBeDefined();

      await old.stop('oldrole');
      expect(live('oldrole')).toBeUndefined();
      expect(fake.store.get('services', NS, 'oldrole')).toBeUndefined();
      expect(fake.store.list('secrets', NS, (l) => l.app_name === 'oldrole')).toEqual([]);
    } finally {
      for (const rule of refused) fake.denied.delete(rule);
    }
  });

  it('any other refusal still fails the rollout', async () => {
    fake.denied.add('apps/deployments:create');
    try {
      await expect(driver.rollout(deployment('norole'), async () => {})).rejects.toMatchObject({ name: 'KubernetesApiError', status: 403 });
    } finally {
      fake.denied.delete('apps/deployments:create');
    }
  });
});

describe('kubernetes driver: restore with new routing settings', () => {
  it('a running release gets the Ingress and budget of the settings it restarts with', async () => {
    const d = deployment('later', undefined, { instances: 2 });
    await driver.rollout(d, async () => {});
    fake.store.delete('poddisruptionbudgets', NS, 'later');
    expect(ingress('later')).toBeUndefined();
    const podsBefore = pods('later').map((p) => p.metadata.name);
    const [restored] = await newDriver({ ingress: { domain: 'apps.example.com' } }).restore([d]);
    expect(restored).toEqual({ deploymentId: d.deploymentId, url: 'http://later.apps.example.com', error: null });
    expect(ingress('later')?.spec.rules[0].host).toBe('later.apps.example.com');
    expect(pdb('later')).toBeDefined();
    // Left running as it was: no new pods.
    expect(pods('later').map((p) => p.metadata.name)).toEqual(podsBefore);
  });
});

describe('fake API server: the new kinds', () => {
  it('holds PodDisruptionBudgets and Ingresses to their schemas and rules (422 Invalid)', async () => {
    const api = new KubeApi(loadKubeConfig(fake.kubeconfigPath), NS);
    const both = buildPodDisruptionBudget('web', cfg) as { spec: Record<string, unknown> };
    both.spec.minAvailable = 1;
    expect(await api.apply(both).catch((e: unknown) => e)).toMatchObject({ status: 422, reason: 'Invalid' });
    const badPath = buildIngress('web', { ...cfg, ingress: { domain: 'apps.example.com' } }) as { spec: { rules: Array<{ http: { paths: Array<Record<string, unknown>> } }> } };
    badPath.spec.rules[0]!.http.paths[0]!.pathType = 'Regex';
    expect(await api.apply(badPath).catch((e: unknown) => e)).toMatchObject({ status: 422, reason: 'Invalid' });
    const badHost = buildIngress('web', { ...cfg, ingress: { domain: 'apps.example.com' } }) as { spec: { rules: Array<{ host: string }> } };
    badHost.spec.rules[0]!.host = 'Web.Apps';
    expect(await api.apply(badHost).catch((e: unknown) => e)).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(await api.delete('Ingress', 'nope')).toBe(false);
    expect(await api.delete('PodDisruptionBudget', 'nope')).toBe(false);
  });
});
