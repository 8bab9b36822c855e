import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { randomUUID } from 'node:crypto';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../server/env';
import { appUrl, kubernetesConfigFromEnv, type KubernetesRuntimeConfig } from '../../server/runtime/kubernetes/config';
import { buildPodDisruptionBudget } from '../../server/runtime/kubernetes/disruption-budget';
import { runtimeStatusOf } from '../../server/runtime/kubernetes/health';
import { buildIngress } from '../../server/runtime/kubernetes/ingress';
import { buildDeployment, replicasOf } from '../../server/runtime/kubernetes/manifests';
import { isDns1035Label, workloadName } from '../../server/runtime/kubernetes/names';
import { KUBERNETES_RBAC_RULES } from '../../server/runtime/kubernetes/rbac';
import { runtimeDeployment } from '../support/runtime-deployment';

const cfg: KubernetesRuntimeConfig = {
  namespace: 'aether-apps',
  image: 'aether-nodejs:20-slim',
  fetchBaseUrl: 'http://aether-web.aether-system.svc:3000',
  resources: { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '1', memoryLimit: '512Mi' },
  progressDeadlineSecs: 120,
  healthPath: '/healthz',
};
const withIngress = (ingress: KubernetesRuntimeConfig['ingress']): KubernetesRuntimeConfig => ({ ...cfg, ingress });
const APP_NAMES = ['web', '9lives', `a${'b'.repeat(61)}c`, `9${'x'.repeat(62)}`, 'a'];
const release = (instances?: number) =>
  runtimeDeployment({ appName: 'web', deploymentId: randomUUID(), digest: 'ab'.repeat(32), storageKey: 'k', ...(instances === undefined ? {} : { instances }) });
type AnyObj = Record<string, any>;

describe('Deployment at a scale', () => {
  it.each([
    [undefined, 1],
    [0, 0],
    [1, 1],
    [5, 5],
  ])('instances %s: spec.replicas %s, rolling update with maxUnavailable 0 and a surge of one, valid', (instances, replicas) => {
    const dep = buildDeployment(release(instances), cfg) as AnyObj;
    expect(dep.spec.replicas).toBe(replicas);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(() => new Deployment(dep as never).validate()).not.toThrow();
  });

  it('refuses a count that is no whole number >= 0', () => {
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => replicasOf({ instances: bad })).toThrow(/instances must be a whole number >= 0/);
  });
});

describe('PodDisruptionBudget', () => {
  it.each(APP_NAMES)('validates against policy/v1 and selects exactly the app\'s pods (app %s)', (appName) => {
    const pdb = buildPodDisruptionBudget(appName, cfg) as AnyObj;
    expect(() => new PodDisruptionBudget(pdb as never).validate()).not.toThrow();
    expect(pdb.metadata).toEqual({ name: workloadName(appName), namespace: 'aether-apps', labels: { app: 'aether', app_name: appName } });
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: 'aether', app_name: appName } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    // The Deployment's pods carry every label the budget selects on.
    const dep = buildDeployment(runtimeDeployment({ appName, deploymentId: randomUUID(), digest: 'ab'.repeat(32), storageKey: 'k' }), cfg) as AnyObj;
    expect(dep.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
  });
});

describe('Ingress', () => {
  it('none without a domain; the URL is then the Service\'s', () => {
    expect(buildIngress('web', cfg)).toBeNull();
    expect(appUrl(cfg, 'web', 'web')).toBe('http://web.aether-apps.svc.cluster.local:80');
  });

  it.each(APP_NAMES)('validates against networking.k8s.io/v1, host <app>.<domain> to the app\'s Service (app %s)', (appName) => {
    const ing = buildIngress(appName, withIngress({ domain: 'apps.example.com' })) as AnyObj;
    expect(() => new Ingress(ing as never).validate()).not.toThrow();
    const name = workloadName(appName);
    expect(ing.metadata).toEqual({ name, namespace: 'aether-apps', labels: { app: 'aether', app_name: appName } });
    expect(ing.spec).toEqual({
      rules: [{ host: `${appName}.apps.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } }] } }],
    });
    expect(isDns1035Label(ing.spec.rules[0].http.paths[0].backend.service.name)).toBe(true);
  });

  it('with a class and a TLS secret: ingressClassName, tls for the host, and an https URL', () => {
    const c = withIngress({ domain: 'apps.example.com', className: 'nginx', tlsSecret: 'wildcard-apps' });
    const ing = buildIngress('web', c) as AnyObj;
    expect(() => new Ingress(ing as never).validate()).not.toThrow();
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(ing.spec.tls).toEqual([{ hosts: ['web.apps.example.com'], secretName: 'wildcard-apps' }]);
    expect(appUrl(c, 'web', 'web')).toBe('https://web.apps.example.com');
    expect(appUrl(withIngress({ domain: 'apps.example.com', className: 'nginx' }), 'web', 'web')).toBe('http://web.apps.example.com');
  });

  it('refuses a domain that makes no valid host name', () => {
    expect(() => buildIngress('web', withIngress({ domain: `${'d'.repeat(64)}.example.com` }))).toThrow(/not a valid host name: check AETHER_APP_DOMAIN/);
    expect(() => buildIngress('web', withIngress({ domain: 'a..b' }))).toThrow(/not a valid host name/);
  });

  it('is configured by AETHER_APP_DOMAIN, AETHER_INGRESS_CLASS and AETHER_INGRESS_TLS_SECRET', () => {
    const base = { AETHER_RUNTIME: 'kubernetes', AETHER_RUNTIME_FETCH_SECRET: 'k'.repeat(32) };
    expect(kubernetesConfigFromEnv(loadEnv(base)).ingress).toBeUndefined();
    // Class and TLS mean nothing without a domain.
    expect(kubernetesConfigFromEnv(loadEnv({ ...base, AETHER_INGRESS_CLASS: 'nginx' })).ingress).toBeUndefined();
    expect(kubernetesConfigFromEnv(loadEnv({ ...base, AETHER_APP_DOMAIN: 'apps.example.com' })).ingress).toEqual({ domain: 'apps.example.com' });
    const full = loadEnv({ ...base, AETHER_APP_DOMAIN: 'apps.example.com', AETHER_INGRESS_CLASS: 'traefik', AETHER_INGRESS_TLS_SECRET: 'apps-tls' });
    expect(kubernetesConfigFromEnv(full).ingress).toEqual({ domain: 'apps.example.com', className: 'traefik', tlsSecret: 'apps-tls' });
  });

  it("refuses an app domain the control plane's public host lies under: an app could claim the portal's host", () => {
    const base = { AETHER_RUNTIME: 'kubernetes', AETHER_RUNTIME_FETCH_SECRET: 'k'.repeat(32) };
    const portal = { ...base, AETHER_PUBLIC_URL: 'https://Aether.Example.com:8443/' };
    for (const domain of ['example.com', 'aether.example.com']) {
      expect(() => kubernetesConfigFromEnv(loadEnv({ ...portal, AETHER_APP_DOMAIN: domain })), domain).toThrow(
        `AETHER_APP_DOMAIN "${domain}" contains the control plane's host "aether.example.com" (AETHER_PUBLIC_URL): an app could claim it; use a domain of its own for apps, e.g. apps.${domain}`,
      );
    }
    // A sibling domain, or one that only ends with the same letters, is fine.
    for (const domain of ['apps.example.com', 'ample.com', 'xaether.example.com']) {
      expect(kubernetesConfigFromEnv(loadEnv({ ...portal, AETHER_APP_DOMAIN: domain })).ingress).toEqual({ domain });
    }
  });
});

describe('RBAC for scale and routing', () => {
  it('grants PodDisruptionBudgets and Ingresses exactly apply and delete', () => {
    const of = (group: string, resource: string) => KUBERNETES_RBAC_RULES.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource));
    expect(of('policy', 'poddisruptionbudgets')).toEqual([{ apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['create', 'patch', 'delete'] }]);
    expect(of('networking.k8s.io', 'ingresses')).toEqual([{ apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['create', 'patch', 'delete'] }]);
  });
});

describe('health from pods', () => {
  const app = (s: Partial<V1ContainerStatus>): V1ContainerStatus => ({ name: 'app', image: 'i', imageID: '', ready: false, restartCount: 0, ...s });
  const pod = (name: string, ready: boolean, c: Partial<V1ContainerStatus> = {}, extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
    metadata: { name, ...extra },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], containerStatuses: [app({ ready, ...c })] },
  });
  const crashLooping = { restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } } };

  it.each<[string, V1Pod[], number, string]>([
    ['all wanted pods ready', [pod('a', true), pod('b', true)], 2, 'healthy'],
    ['a surge pod beyond the wanted count', [pod('a', true), pod('b', true), pod('c', false)], 2, 'healthy'],
    ['some ready', [pod('a', true), pod('b', false)], 2, 'degraded'],
    ['none ready after restarts', [pod('a', false, { restartCount: 2, state: { running: {} } })], 1, 'restarting'],
    ['none ready yet', [pod('a', false, { state: { waiting: { reason: 'ContainerCreating' } } })], 1, 'restarting'],
    ['a container in CrashLoopBackOff, even beside ready ones', [pod('a', true), pod('b', false, crashLooping)], 2, 'crash_loop'],
    ['an init container in CrashLoopBackOff', [{ ...pod('a', false), status: { initContainerStatuses: [app({ name: 'fetch-artifact', ...crashLooping })] } }], 1, 'crash_loop'],
    ['no replica wanted, a pod still terminating', [pod('a', true)], 0, 'stopped'],
  ])('%s: %s', (_what, pods, desired, health) => {
    expect(runtimeStatusOf(pods, desired).health).toBe(health);
  });

  it('lists each live pod with its readiness and restarts; a deleted one no longer counts', () => {
    const status = runtimeStatusOf([pod('a', true, { restartCount: 1 }), pod('b', false, crashLooping), pod('old', true, {}, { deletionTimestamp: new Date() })], 2);
    expect(status).toEqual({
      health: 'crash_loop',
      instances: [
        { id: 'a', ready: true, restarts: 1 },
        { id: 'b', ready: false, restarts: 4 },
      ],
    });
    expect(runtimeStatusOf([pod('a', true), pod('old', true, {}, { deletionTimestamp: new Date() })], 2).health).toBe('degraded');
  });
});
