import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesRuntime } from '../../server/runtime/kubernetes.driver';
import { loadKubeConfig } from '../../server/runtime/kubernetes/client';
import { fetchTokenKey } from '../../server/runtime/kubernetes/fetch-token';
import type { LogEntry, LogQuery, RuntimeDriver } from '../../server/runtime/port';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index';
import { runtimeDeployment } from '../support/runtime-deployment';

// The Kubernetes driver's logs against the fake API server: the pod is the instance.

const NS = 'aether-apps';
let dir: string;
let fake: FakeKube;
let driver: RuntimeDriver;
const d = runtimeDeployment({ appName: 'pods', deploymentId: randomUUID(), digest: 'ab'.repeat(32), storageKey: 'unused', instances: 2 });
let pods: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aether-k8s-logs-'));
  fake = await startFakeKube(dir, { secondMs: 100 });
  driver = createKubernetesRuntime({
    kubeConfig: loadKubeConfig(fake.kubeconfigPath),
    config: {
      namespace: NS,
      image: 'aether-nodejs:20-slim',
      fetchBaseUrl: 'http://aether-web.aether-system.svc:3000',
      resources: { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '1', memoryLimit: '512Mi' },
      progressDeadlineSecs: 3,
      healthPath: '/',
    },
    fetchTokenKey: fetchTokenKey('k8s-test-secret-0123456789abcdef0123'),
    pollMs: 15,
    graceMs: 3000,
    log: () => {},
  });
  await driver.rollout(d, async () => {});
  pods = fake.store.list('pods', NS, (l) => l.deployment_id === d.deploymentId).map((p) => p.metadata.name);
  for (let i = 0; i < 4; i++) fake.controller.appendLog(NS, pods[i % 2]!, 'app', `line ${i}`);
});
afterAll(async () => {
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});

const collect = async (q: Partial<LogQuery>) => {
  const out: LogEntry[] = [];
  for await (const e of driver.logs({ appName: 'pods', deploymentId: d.deploymentId }, { tail: 100, follow: false, ...q })) out.push(e);
  return out;
};

describe('kubernetes logs by instance', () => {
  it('names the pod of each line as its instance, and filters by it', async () => {
    expect(pods).toHaveLength(2);
    const [a, b] = pods as [string, string];
    expect((await collect({})).map((e) => `${e.instance}:${e.line}`)).toEqual([`${a}:line 0`, `${b}:line 1`, `${a}:line 2`, `${b}:line 3`]);
    expect((await collect({ instance: b })).map((e) => e.line)).toEqual(['line 1', 'line 3']);
    expect(await collect({ instance: 'no-such-pod' })).toEqual([]);
    await expect(collect({ instance: 'Bad Pod' })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
