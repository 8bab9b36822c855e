import { randomUUID } from 'node:crypto';
import { Deployment } from 'kubernetes-models/apps/v1';
import { describe, expect, it } from 'vitest';
import type { KubernetesRuntimeConfig } from '../../server/runtime/kubernetes/config';
import { buildDeployment } from '../../server/runtime/kubernetes/manifests';

/** The Kubernetes side of the unpacked-size cap: the init container's fetch program reads it from its env. */

const cfg: KubernetesRuntimeConfig = {
  namespace: 'aether-apps',
  image: 'aether-nodejs:20-slim',
  fetchBaseUrl: 'http://aether-web.aether-system.svc:3000',
  resources: { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '1', memoryLimit: '512Mi' },
  progressDeadlineSecs: 120,
  healthPath: '/healthz',
  replicas: 1,
};

type Container = { name: string; env?: Array<{ name: string; value?: string }> };
const containersOf = (dep: unknown) => (dep as { spec: { template: { spec: { initContainers: Container[]; containers: Container[] } } } }).spec.template.spec;

describe("the release's unpacked-size cap on Kubernetes", () => {
  it('reaches the init container as AETHER_MAX_UNPACKED_BYTES, and only the init container', () => {
    const dep = buildDeployment({ appName: 'web', deploymentId: randomUUID(), digest: 'ab'.repeat(32), storageKey: 'k', maxUnpackedBytes: 3 * 1024 ** 2 }, cfg);
    expect(() => new Deployment(dep as never).validate()).not.toThrow();
    const { initContainers, containers } = containersOf(dep);
    expect(initContainers[0]!.env!.filter((e) => e.name === 'AETHER_MAX_UNPACKED_BYTES')).toEqual([{ name: 'AETHER_MAX_UNPACKED_BYTES', value: '3145728' }]);
    for (const c of containers) expect(c.env?.some((e) => e.name === 'AETHER_MAX_UNPACKED_BYTES')).toBe(false);
  });
});
