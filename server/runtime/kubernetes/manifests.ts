import type { RuntimeDeployment } from '../port';
import { APP_DIR, APP_VOLUME_MOUNT, CONTAINER_PORT, FETCH_PROGRAM, SERVICE_PORT, type KubernetesRuntimeConfig } from './config';
import {
  APP_CONTAINER,
  appLabels,
  assertDeploymentId,
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

export function buildDeployment(d: RuntimeDeployment, cfg: KubernetesRuntimeConfig): Json {
  assertDeploymentId(d.deploymentId);
  if (!/^[0-9a-f]{64}$/.test(d.digest)) throw new Error('digest must be 64 lowercase hex characters');
  const labels = deploymentLabels(d.appName, d.deploymentId);
  const annotations = { [DIGEST_ANNOTATION]: `sha256:${d.digest}` };
  const resources = {
    requests: { cpu: cfg.resources.cpuRequest, memory: cfg.resources.memoryRequest },
    limits: { cpu: cfg.resources.cpuLimit, memory: cfg.resources.memoryLimit },
  };
  const appMount = { name: 'app', mountPath: APP_VOLUME_MOUNT };
  // The init container writes only the artifact; the app also gets a private /tmp and HOME.
  const appMounts = [appMount, { name: 'tmp', mountPath: '/tmp' }, { name: 'home', mountPath: HOME_DIR }];
  const probe = (extra: Json) => ({ httpGet: { path: cfg.healthPath, port: 'http' }, timeoutSeconds: 2, ...extra });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: workloadName(d.appName), namespace: cfg.namespace, labels, annotations },
    spec: {
      replicas: cfg.replicas,
      revisionHistoryLimit: 3,
      progressDeadlineSeconds: cfg.progressDeadlineSecs,
      // The selector is immutable: it names the app, never a deployment.
      selector: { matchLabels: appLabels(d.appName) },
      // Never fewer serving pods than wanted: the old pod goes only once a new one is ready.
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
              // (the fetch program refuses an artifact with neither before this starts).
              args: ['npm', 'start'],
              workingDir: APP_DIR,
              env: [
                { name: 'PORT', value: String(CONTAINER_PORT) },
                { name: 'NODE_ENV', value: 'production' },
                { name: 'AETHER_APP', value: d.appName },
                { name: 'AETHER_DEPLOYMENT_ID', value: d.deploymentId },
                { name: 'AETHER_DIGEST', value: d.digest },
                { name: 'HOME', value: HOME_DIR },
                { name: 'npm_config_cache', value: `${HOME_DIR}/.npm` },
                { name: 'npm_config_update_notifier', value: 'false' },
              ],
              ports: [{ name: 'http', containerPort: CONTAINER_PORT, protocol: 'TCP' }],
              // Startup gets the whole progress deadline; liveness takes over once it answered.
              startupProbe: probe({ periodSeconds: 2, failureThreshold: Math.max(1, Math.ceil(cfg.progressDeadlineSecs / 2)) }),
              readinessProbe: probe({ periodSeconds: 2, failureThreshold: 3 }),
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
