import type { Env } from '../../env';

/** Everything the Kubernetes driver's manifests and watcher depend on, resolved from the env once. */
export interface KubernetesRuntimeConfig {
  /** Where every app's objects live. */
  namespace: string;
  /** Image of both the init container (fetch program baked in) and the app container. */
  image: string;
  /** Base URL pods reach the control plane at; the init container GETs `/runtime/artifacts/{id}` below it. */
  fetchBaseUrl: string;
  resources: { cpuRequest: string; memoryRequest: string; cpuLimit: string; memoryLimit: string };
  /** The Deployment's progressDeadlineSeconds; the driver gives up a little after it too. */
  progressDeadlineSecs: number;
  /** Path of the readiness, startup and liveness HTTP probes. */
  healthPath: string;
  replicas: number;
}

/** The port the app listens on inside its pod (`PORT`) and the Service's port. */
export const CONTAINER_PORT = 8080;
export const SERVICE_PORT = 80;
/** Where the init container unpacks the artifact; the app runs from here. */
export const APP_VOLUME_MOUNT = '/app';
export const APP_DIR = '/app/release';
export const FETCH_PROGRAM = '/opt/aether/fetch-artifact.mjs';

export function kubernetesConfigFromEnv(env: Env): KubernetesRuntimeConfig {
  return {
    namespace: env.AETHER_NAMESPACE,
    image: env.AETHER_RUNTIME_IMAGE,
    fetchBaseUrl: (env.AETHER_RUNTIME_FETCH_URL ?? env.AETHER_PUBLIC_URL).replace(/\/+$/, ''),
    resources: {
      cpuRequest: env.AETHER_RUNTIME_CPU_REQUEST,
      memoryRequest: env.AETHER_RUNTIME_MEMORY_REQUEST,
      cpuLimit: env.AETHER_RUNTIME_CPU_LIMIT,
      memoryLimit: env.AETHER_RUNTIME_MEMORY_LIMIT,
    },
    progressDeadlineSecs: env.AETHER_RUNTIME_PROGRESS_DEADLINE_SECS,
    healthPath: env.AETHER_RUNTIME_HEALTH_PATH,
    replicas: 1,
  };
}

/** The cluster-internal URL of an app's Service. */
export function serviceUrl(serviceName: string, namespace: string): string {
  return `http://${serviceName}.${namespace}.svc.cluster.local:${SERVICE_PORT}`;
}
