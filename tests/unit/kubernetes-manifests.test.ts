import { randomUUID } from 'node:crypto';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../server/env';
import { kubernetesConfigFromEnv, type KubernetesRuntimeConfig } from '../../server/runtime/kubernetes/config';
import { decodeTerminationMessage, encodeTerminationMessage, outcomeOfExitCode, TERMINATION_MESSAGE_MAX } from '../../server/runtime/kubernetes/fetch-protocol';
import { fetchToken, fetchTokenKey, isValidFetchToken } from '../../server/runtime/kubernetes/fetch-token';
import { mergeByTime, parseLogLine } from '../../server/runtime/kubernetes/log-lines';
import { buildConfigSecret, buildDeployment, buildFetchSecret, buildService } from '../../server/runtime/kubernetes/manifests';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isLabelValue, workloadName } from '../../server/runtime/kubernetes/names';
import { observePod } from '../../server/runtime/kubernetes/pod-status';
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
const DIGEST = 'ab'.repeat(32);
const TOKEN = fetchToken(fetchTokenKey('s'.repeat(32)), '00000000-0000-4000-8000-000000000000');
/** A release as the rollout service sends it, with the environment's defaults as settings. */
const release = (d: Parameters<typeof runtimeDeployment>[0]) =>
  runtimeDeployment({ ...d, settings: { healthPath: '/healthz', healthTimeoutMs: 60_000, ...d.settings } });

type AnyObj = Record<string, any>;
const APP_NAMES = ['web', '9lives', `a${'b'.repeat(61)}c`, `9${'x'.repeat(62)}`, 'a'];

/** Every label (metadata and template) of an object is a valid key/value pair. */
function labelsOf(obj: AnyObj): Record<string, string>[] {
  return [obj.metadata?.labels, obj.spec?.template?.metadata?.labels, obj.spec?.selector?.matchLabels, obj.spec?.selector].filter(
    (l): l is Record<string, string> => Boolean(l) && typeof l === 'object' && !('matchLabels' in l),
  );
}

describe('generated manifests', () => {
  it.each(APP_NAMES)('validate against the official schemas, with DNS-1123 names and valid labels (app %s)', (appName) => {
    const d = release({ appName, deploymentId: randomUUID(), digest: DIGEST, storageKey: 'k', env: { DATABASE_URL: 'postgres://db/app', API_KEY: 's3cr3t' } });
    const dep = buildDeployment(d, cfg) as AnyObj;
    const svc = buildService(appName, cfg) as AnyObj;
    const secret = buildFetchSecret(d, TOKEN, cfg) as AnyObj;
    const config = buildConfigSecret(d, cfg) as AnyObj;
    expect(() => new Deployment(dep as never).validate()).not.toThrow();
    expect(() => new Service(svc as never).validate()).not.toThrow();
    expect(() => new Secret(secret as never).validate()).not.toThrow();
    expect(() => new Secret(config as never).validate()).not.toThrow();
    expect(isDns1123Subdomain(dep.metadata.name)).toBe(true);
    expect(isDns1035Label(svc.metadata.name)).toBe(true);
    expect(isDns1123Subdomain(secret.metadata.name)).toBe(true);
    expect(isDns1123Subdomain(config.metadata.name)).toBe(true);
    expect(dep.spec.template.spec.containers[0].envFrom).toEqual([{ secretRef: { name: config.metadata.name } }]);
    expect(svc.metadata.name).toBe(dep.metadata.name);
    for (const obj of [dep, svc, secret, config]) {
      for (const labels of labelsOf(obj)) for (const value of Object.values(labels)) expect(isLabelValue(value), value).toBe(true);
    }
    const pod = dep.spec.template.spec;
    for (const c of [...pod.initContainers, ...pod.containers]) expect(isDns1123Label(c.name)).toBe(true);
    for (const ref of pod.initContainers[0].env.filter((e: AnyObj) => e.valueFrom)) {
      expect(isDns1123Subdomain(ref.valueFrom.secretKeyRef.name)).toBe(true);
    }
  });

  it('names: the app name when it is a DNS-1035 label, else prefixed and, past 63, hashed', () => {
    expect(workloadName('web')).toBe('web');
    expect(workloadName('9lives')).toBe('app-9lives');
    const long = `9${'x'.repeat(62)}`;
    expect(workloadName(long)).toHaveLength(63);
    expect(workloadName(long)).not.toBe(workloadName(`9${'x'.repeat(61)}y`));
    expect(() => workloadName('Not_A_Label')).toThrow(/DNS-1123/);
  });

  it('run non-root with no escalation, bounded resources, probes, a deadline and no surge below capacity', () => {
    const d = release({ appName: 'web', deploymentId: randomUUID(), digest: DIGEST, storageKey: 'k' });
    const dep = buildDeployment(d, cfg) as AnyObj;
    expect(dep.metadata.labels).toEqual({ app: 'aether', app_name: 'web', deployment_id: d.deploymentId });
    expect(dep.spec.template.metadata.annotations).toEqual({ 'aether.dev/digest': `sha256:${DIGEST}` });
    expect(dep.spec.selector.matchLabels).toEqual({ app: 'aether', app_name: 'web' });
    expect(dep.spec.progressDeadlineSeconds).toBe(120);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const pod = dep.spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // No API credentials, no other Services' addresses, no host namespaces.
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.serviceAccountName).toBeUndefined();
    for (const key of ['hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace']) expect(pod[key], key).toBeUndefined();
    // The root filesystem is read-only: these bounded emptyDirs are all a pod can write.
    expect(pod.volumes).toEqual([
      { name: 'app', emptyDir: { sizeLimit: '3Gi' } },
      { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
      { name: 'home', emptyDir: { sizeLimit: '128Mi' } },
    ]);
    expect(pod.initContainers[0].volumeMounts).toEqual([{ name: 'app', mountPath: '/app' }]);
    expect(pod.containers[0].volumeMounts).toEqual([
      { name: 'app', mountPath: '/app' },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'home', mountPath: '/home/aether' },
    ]);
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.image).toBe('aether-nodejs:20-slim');
      expect(c.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
      // Exec form, no shell anywhere: nothing is interpolated into a command line.
      expect(c.command).toBeUndefined();
      expect(c.args.join(' ')).not.toMatch(/\bsh\b|bash|-c\b/);
    }
    const [init] = pod.initContainers;
    expect(init.args).toEqual(['node', '/opt/aether/fetch-artifact.mjs']);
    const initEnv = Object.fromEntries(init.env.map((e: AnyObj) => [e.name, e.value ?? e.valueFrom]));
    expect(initEnv).toEqual({
      AETHER_FETCH_URL: `http://aether-web.aether-system.svc:3000/runtime/artifacts/${d.deploymentId}`,
      AETHER_DIGEST: DIGEST,
      AETHER_APP_DIR: '/app/release',
      AETHER_FETCH_TOKEN: { secretKeyRef: { name: `web-fetch-${d.deploymentId}`, key: 'token' } },
    });
    const [app] = pod.containers;
    expect(app.args).toEqual(['npm', 'start']);
    expect(app.workingDir).toBe('/app/release');
    // Nothing but these: in particular no fetch token, which only the init container reads.
    expect(Object.fromEntries(app.env.map((e: AnyObj) => [e.name, e.value]))).toEqual({
      PORT: '8080',
      NODE_ENV: 'production',
      AETHER_APP: 'web',
      AETHER_DEPLOYMENT_ID: d.deploymentId,
      AETHER_DIGEST: DIGEST,
      HOME: '/home/aether',
      npm_config_cache: '/home/aether/.npm',
      npm_config_update_notifier: 'false',
    });
    expect(app.env.some((e: AnyObj) => e.valueFrom)).toBe(false);
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) expect(app[probe].httpGet).toEqual({ path: '/healthz', port: 'http' });
    // The token lives in the Secret only, never in the Deployment.
    expect(JSON.stringify(dep)).not.toContain(TOKEN);
    const secret = buildFetchSecret(d, TOKEN, cfg) as AnyObj;
    expect(Buffer.from(secret.data.token, 'base64').toString()).toBe(TOKEN);
  });

  it('refuse what would make an invalid object before any API call', () => {
    expect(() => buildDeployment(release({ appName: 'web', deploymentId: 'not-a-uuid', digest: DIGEST, storageKey: 'k' }), cfg)).toThrow(/UUID/);
    expect(() => buildDeployment(release({ appName: 'web', deploymentId: randomUUID(), digest: 'xyz', storageKey: 'k' }), cfg)).toThrow(/digest/);
    expect(() => buildDeployment(release({ appName: 'web', deploymentId: randomUUID(), digest: DIGEST, storageKey: 'k', configVersionId: 'v1' }), cfg)).toThrow(/config version id/);
    expect(() => buildService('-bad', cfg)).toThrow(/DNS-1123/);
  });
});

describe('fetch tokens', () => {
  const key = fetchTokenKey('s'.repeat(32));
  const id = randomUUID();
  it('verify for their own deployment only, under their own key', () => {
    const token = fetchToken(key, id);
    expect(isValidFetchToken(key, id, token)).toBe(true);
    expect(isValidFetchToken(key, randomUUID(), token)).toBe(false);
    expect(isValidFetchToken(fetchTokenKey('t'.repeat(32)), id, token)).toBe(false);
    expect(isValidFetchToken(key, id, token.slice(1))).toBe(false);
    expect(isValidFetchToken(key, id, token.toUpperCase())).toBe(false);
  });
});

describe('fetch protocol', () => {
  it('round-trips termination messages and keeps them within 4096 bytes', () => {
    const ok = { ok: true as const, phases: [{ phase: 'fetch' as const, ms: 3, message: 'x' }] };
    expect(decodeTerminationMessage(encodeTerminationMessage(ok))).toEqual(ok);
    const long = encodeTerminationMessage({ ok: false, outcome: 'archive_refused', message: 'y'.repeat(10_000) });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(TERMINATION_MESSAGE_MAX);
    expect(decodeTerminationMessage(long)).toMatchObject({ ok: false, outcome: 'archive_refused' });
    expect(decodeTerminationMessage('panic: something')).toBeNull();
    expect(outcomeOfExitCode(11)).toBe('digest_mismatch');
    expect(outcomeOfExitCode(137)).toBe('internal');
  });
});

describe('pod observation', () => {
  const pod = (status: AnyObj) => ({ metadata: { name: 'p' }, status }) as never;
  it('classifies a failed init container from its restart back-off', () => {
    const o = observePod(
      pod({
        initContainerStatuses: [
          { name: 'fetch-artifact', restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 12, message: '{"ok":false,"outcome":"archive_refused","message":"archive refused: ../x"}' } } },
        ],
      }),
    );
    expect(o.initFailure).toMatchObject({ reason: 'archive_refused' });
    expect(o.initFailure?.message).toContain('../x');
    // A non-JSON message (the fallback to logs) still classifies by exit code.
    const raw = observePod(pod({ initContainerStatuses: [{ name: 'fetch-artifact', state: { terminated: { exitCode: 11, message: 'oops' } } }] }));
    expect(raw.initFailure?.reason).toBe('digest_mismatch');
    // A transient failure the kubelet's retry got past is no failure.
    const retried = observePod(
      pod({ initContainerStatuses: [{ name: 'fetch-artifact', restartCount: 1, state: { terminated: { exitCode: 0, message: '{"ok":true,"phases":[]}' } }, lastState: { terminated: { exitCode: 10 } } }] }),
    );
    expect(retried.initFailure).toBeNull();
    expect(retried.initDone).toEqual({ phases: [] });
  });

  it('sees a crash loop as a failed start, but not a pod that restarted once and serves again', () => {
    const crashing = observePod(pod({ containerStatuses: [{ name: 'app', ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 3 } } }] }));
    expect(crashing.appCrash).toMatchObject({ how: 'exit code 3', previous: true });
    const recovered = observePod(
      pod({ conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'app', ready: true, restartCount: 1, state: { running: {} }, lastState: { terminated: { exitCode: 1 } } }] }),
    );
    expect(recovered.appCrash).toBeNull();
    expect(recovered.ready).toBe(true);
  });
});

describe('log lines', () => {
  it('parse RFC3339Nano with trimmed zeros into keys that sort by time', () => {
    const a = parseLogLine('2024-05-01T10:00:00.1Z first', 'p1/app');
    const b = parseLogLine('2024-05-01T10:00:00.12Z second', 'p2/app');
    const c = parseLogLine('2024-05-01T10:00:00Z zeroth', 'p2/app');
    expect(a).toMatchObject({ time: '2024-05-01T10:00:00.100000000Z', line: 'first', source: 'p1/app' });
    expect(mergeByTime([b, a, c]).map((e) => e.line)).toEqual(['zeroth', 'first', 'second']);
    expect(parseLogLine('no timestamp here', 'p/app')).toMatchObject({ time: null, line: 'no timestamp here' });
  });
});

describe('configuration', () => {
  it('needs a fetch secret in kubernetes mode, and resolves the namespace', () => {
    expect(() => loadEnv({ AETHER_RUNTIME: 'kubernetes' })).toThrow(/AETHER_RUNTIME_FETCH_SECRET/);
    const secret = 'k'.repeat(32);
    expect(kubernetesConfigFromEnv(loadEnv({ AETHER_RUNTIME: 'kubernetes', AETHER_RUNTIME_FETCH_SECRET: secret })).namespace).toBe('aether-apps');
    const env = loadEnv({ AETHER_RUNTIME: 'kubernetes', AETHER_STORAGE_SECRET: secret, AETHER_DEFAULT_NAMESPACE: 'apps', AETHER_PUBLIC_URL: 'https://aether.example' });
    expect(kubernetesConfigFromEnv(env)).toMatchObject({ namespace: 'apps', fetchBaseUrl: 'https://aether.example', image: 'aether-nodejs:20-slim' });
    expect(() => loadEnv({ AETHER_NAMESPACE: 'Bad_Namespace' })).toThrow(/AETHER_NAMESPACE/);
    expect(() => loadEnv({ AETHER_RUNTIME_MEMORY_LIMIT: '512 megs' })).toThrow(/AETHER_RUNTIME_MEMORY_LIMIT/);
  });

  it('RBAC rules name exact resources and verbs, no wildcards', () => {
    for (const rule of KUBERNETES_RBAC_RULES) {
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain('*');
    }
  });
});

/** The Kubernetes side of the unpacked-size cap: the init container's fetch program reads it from its env. */
describe("the release's unpacked-size cap on Kubernetes", () => {
  type Container = { name: string; env?: Array<{ name: string; value?: string }> };
  const containersOf = (dep: unknown) => (dep as { spec: { template: { spec: { initContainers: Container[]; containers: Container[] } } } }).spec.template.spec;

  it('reaches the init container as AETHER_MAX_UNPACKED_BYTES, and only the init container', () => {
    const dep = buildDeployment(release({ appName: 'web', deploymentId: randomUUID(), digest: DIGEST, storageKey: 'k', maxUnpackedBytes: 3 * 1024 ** 2 }), cfg);
    expect(() => new Deployment(dep as never).validate()).not.toThrow();
    const { initContainers, containers } = containersOf(dep);
    expect(initContainers[0]!.env!.filter((e) => e.name === 'AETHER_MAX_UNPACKED_BYTES')).toEqual([{ name: 'AETHER_MAX_UNPACKED_BYTES', value: '3145728' }]);
    for (const c of containers) expect(c.env?.some((e) => e.name === 'AETHER_MAX_UNPACKED_BYTES')).toBe(false);
  });
});
