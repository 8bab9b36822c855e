import type { ReleaseSettings, RuntimeDeployment } from '../port';
import { APP_DIR, APP_VOLUME_MOUNT, CONTAINER_PORT, FETCH_PROGRAM, SERVICE_PORT, type KubernetesRuntimeConfig } from './config';
import {
  APP_CONTAINER,
  appLabels,
  assertDeploymentId,
  configLabels,
  configSecretName,
  deploymentLabels,
  DIGEST_ANNOTATION,
  fetchSecretName,
  INIT_CONTAINER,
  workloadName,
} from './names';

/**
 * The objects one deployment consists of, as plain JSON (what server-side apply sends).
 * Nothing the user controls reaches a shell: the artifact is named by URL and digest in env
 * vars, read by a program started in exec form.
 */

const APP_UID = 1000;
// The root filesystem is read-only: these emptyDirs are all a pod can write, each bounded (the
// kubelet evicts a pod past a sizeLimit). The app volume also bounds a hostile archive.
const APP_VOLUME_SIZE = '3Gi';
const TMP_VOLUME_SIZE = '256Mi';
// HOME: npm's cache and logs, apart from /tmp so an app filling one cannot starve the other.
const HOME_VOLUME_SIZE = '128Mi';
const HOME_DIR = '/home/aether';
export const FETCH_TOKEN_KEY = 'token';
/** Kubernetes refuses a Secret whose data (keys and decoded values) passes 1 MiB. */
export const SECRET_MAX_BYTES = 1024 * 1024;
const PROBE_PERIOD_SECS = 2;

type Json = Record<string, unknown>;

const containerSecurity = {
  runAsNonRoot: true,
  runAsUser: APP_UID,
  runAsGroup: APP_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

export function fetchUrlOf(cfg: KubernetesRuntimeConfig, deploymentId: string): string {
  return `${cfg.fetchBaseUrl}/runtime/artifacts/${deploymentId}`;
}

/** The release's settings; the driver's configuration for a caller that sent none. */
export function settingsOf(d: Pick<RuntimeDeployment, 'settings'>, cfg: KubernetesRuntimeConfig): ReleaseSettings {
  const s: Partial<ReleaseSettings> = d.settings ?? {};
  return {
    startCommand: s.startCommand ?? null,
    healthPath: s.healthPath ?? cfg.healthPath,
    healthTimeoutMs: s.healthTimeoutMs ?? cfg.progressDeadlineSecs * 1000,
  };
}

/** The Deployment's progressDeadlineSeconds: never shorter than the release's health timeout. */
export function progressDeadlineSecsOf(d: Pick<RuntimeDeployment, 'settings'>, cfg: KubernetesRuntimeConfig): number {
  return Math.max(cfg.progressDeadlineSecs, Math.ceil(settingsOf(d, cfg).healthTimeoutMs / 1000));
}

/** How many pods run `d`: the app's scale, 0 for a stopped app. */
export function replicasOf(d: Pick<RuntimeDeployment, 'instances'>): number {
  const n = d.instances ?? 1;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`instances must be a whole number >= 0, got ${String(n)}`);
  return n;
}

export function buildDeployment(d: RuntimeDeployment, cfg: KubernetesRuntimeConfig): Json {
  assertDeploymentId(d.deploymentId);
  if (!/^[0-9a-f]{64}$/.test(d.digest)) throw new Error('digest must be 64 lowercase hex characters');
  const settings = settingsOf(d, cfg);
  const progressDeadlineSecs = progressDeadlineSecsOf(d, cfg);
  const healthTimeoutSecs = Math.ceil(settings.healthTimeoutMs / 1000);
  const labels = deploymentLabels(d.appName, d.deploymentId);
  const annotations = { [DIGEST_ANNOTATION]: `sha256:${d.digest}` };
  const resources = {
    requests: { cpu: cfg.resources.cpuRequest, memory: cfg.resources.memoryRequest },
    limits: { cpu: cfg.resources.cpuLimit, memory: cfg.resources.memoryLimit },
  };
  const appMount = { name: 'app', mountPath: APP_VOLUME_MOUNT };
  // The init container writes only the artifact; the app also gets a private /tmp and HOME.
  const appMounts = [appMount, { name: 'tmp', mountPath: '/tmp' }, { name: 'home', mountPath: HOME_DIR }];
  const probe = (extra: Json) => ({ httpGet: { path: settings.healthPath, port: 'http' }, timeoutSeconds: 2, ...extra });
  // NODE_ENV is production unless the config says otherwise: `env` would win over `envFrom`.
  const nodeEnv = Object.hasOwn(d.env ?? {}, 'NODE_ENV') ? [] : [{ name: 'NODE_ENV', value: 'production' }];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: workloadName(d.appName), namespace: cfg.namespace, labels, annotations },
    spec: {
      replicas: replicasOf(d),
      revisionHistoryLimit: 3,
      progressDeadlineSeconds: progressDeadlineSecs,
      // The selector is immutable: it names the app, never a deployment.
      selector: { matchLabels: appLabels(d.appName) },
      // Never fewer serving pods than wanted: an old pod goes only once a new one is ready. One
      // extra pod at a time (not 25%): an app's quota is counted in instances, and a surge of
      // one bounds what a rollout or restart of a large app costs beyond it.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations },
        spec: {
          automountServiceAccountToken: false,
          // Other Services' addresses as env vars are noise the app never asked for.
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: APP_UID,
            runAsGroup: APP_UID,
            fsGroup: APP_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          volumes: [
            { name: 'app', emptyDir: { sizeLimit: APP_VOLUME_SIZE } },
            { name: 'tmp', emptyDir: { sizeLimit: TMP_VOLUME_SIZE } },
            { name: 'home', emptyDir: { sizeLimit: HOME_VOLUME_SIZE } },
          ],
          initContainers: [
            {
              name: INIT_CONTAINER,
              image: cfg.image,
              // Exec form under the image's init process: no shell, nothing interpolated.
              args: ['node', FETCH_PROGRAM],
              env: [
                { name: 'AETHER_FETCH_URL', value: fetchUrlOf(cfg, d.deploymentId) },
                { name: 'AETHER_DIGEST', value: d.digest },
                { name: 'AETHER_APP_DIR', value: APP_DIR },
                ...(d.maxUnpackedBytes ? [{ name: 'AETHER_MAX_UNPACKED_BYTES', value: String(d.maxUnpackedBytes) }] : []),
                // A start command of its own: the artifact need not have what `npm start` runs.
                ...(settings.startCommand !== null ? [{ name: 'AETHER_SKIP_START_CHECK', value: 'true' }] : []),
                {
                  name: 'AETHER_FETCH_TOKEN',
                  valueFrom: { secretKeyRef: { name: fetchSecretName(d.appName, d.deploymentId), key: FETCH_TOKEN_KEY } },
                },
              ],
              resources,
              securityContext: containerSecurity,
              volumeMounts: [appMount],
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
          containers: [
            {
              name: APP_CONTAINER,
              image: cfg.image,
              // `npm start`, as the local driver runs it: scripts.start, else `node server.js`
              // (the fetch program refuses an artifact with neither before this starts), or the
              // release's start command. Arguments, not `command`: the image's init (tini) stays PID 1.
              args: settings.startCommand === null ? ['npm', 'start'] : ['sh', '-c', settings.startCommand],
              workingDir: APP_DIR,
              // The release's config, from its immutable Secret. The init container gets none of it.
              envFrom: [{ secretRef: { name: configSecretName(d.appName, d.configVersionId) } }],
              // Listed variables win over envFrom's: the driver's own are never overridden.
              env: [
                { name: 'PORT', value: String(CONTAINER_PORT) },
                ...nodeEnv,
                { name: 'AETHER_APP', value: d.appName },
                { name: 'AETHER_DEPLOYMENT_ID', value: d.deploymentId },
                { name: 'AETHER_DIGEST', value: d.digest },
                { name: 'HOME', value: HOME_DIR },
                { name: 'npm_config_cache', value: `${HOME_DIR}/.npm` },
                { name: 'npm_config_update_notifier', value: 'false' },
              ],
              ports: [{ name: 'http', containerPort: CONTAINER_PORT, protocol: 'TCP' }],
              // Startup gets the release's health timeout; liveness takes over once it answered.
              startupProbe: probe({ periodSeconds: PROBE_PERIOD_SECS, failureThreshold: Math.max(1, Math.ceil(healthTimeoutSecs / PROBE_PERIOD_SECS)) }),
              readinessProbe: probe({ periodSeconds: PROBE_PERIOD_SECS, failureThreshold: 3 }),
              livenessProbe: probe({ periodSeconds: 10, failureThreshold: 3 }),
              resources,
              securityContext: containerSecurity,
              volumeMounts: appMounts,
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
        },
      },
    },
  };
}

export function buildService(appName: string, cfg: KubernetesRuntimeConfig): Json {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: workloadName(appName), namespace: cfg.namespace, labels: appLabels(appName) },
    spec: {
      type: 'ClusterIP',
      selector: appLabels(appName),
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

/** The Secret the init container reads its fetch token from (never a plain env value). */
export function buildFetchSecret(d: Pick<RuntimeDeployment, 'appName' | 'deploymentId'>, token: string, cfg: KubernetesRuntimeConfig): Json {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: fetchSecretName(d.appName, d.deploymentId),
      namespace: cfg.namespace,
      labels: deploymentLabels(d.appName, d.deploymentId),
    },
    type: 'Opaque',
    data: { [FETCH_TOKEN_KEY]: Buffer.from(token, 'utf8').toString('base64') },
  };
}

/** Bytes a Secret of `env` counts against {@link SECRET_MAX_BYTES}: names and values (UTF-8). */
export function configSecretBytes(env: Readonly<Record<string, string>>): number {
  let total = 0;
  for (const [name, value] of Object.entries(env)) total += Buffer.byteLength(name) + Buffer.byteLength(value);
  return total;
}

/**
 * One config version's variables as an immutable Secret, shared by every release of the app
 * that runs with that version; the app container reads it through `envFrom`.
 */
export function buildConfigSecret(d: Pick<RuntimeDeployment, 'appName' | 'configVersionId' | 'env'>, cfg: KubernetesRuntimeConfig): Json {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: configSecretName(d.appName, d.configVersionId),
      namespace: cfg.namespace,
      labels: configLabels(d.appName, d.configVersionId),
    },
    type: 'Opaque',
    immutable: true,
    data: Object.fromEntries(Object.entries(d.env).map(([name, value]) => [name, Buffer.from(value, 'utf8').toString('base64')])),
  };
}
