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
  /** Set with AETHER_APP_DOMAIN: each app gets an Ingress for `<app>.<domain>`. */
  ingress?: IngressConfig;
}

export interface IngressConfig {
  domain: string;
  /** The Ingress's ingressClassName; absent: the cluster's default class. */
  className?: string;
  /** A TLS Secret in the apps' namespace covering `<app>.<domain>` (a wildcard certificate). */
  tlsSecret?: string;
}

/** The port the app listens on inside its pod (`PORT`) and the Service's port. */
export const CONTAINER_PORT = 8080;
export const SERVICE_PORT = 80;
/** Where the init container unpacks the artifact; the app runs from here. */
export const APP_VOLUME_MOUNT = '/app';
export const APP_DIR = '/app/release';
export const FETCH_PROGRAM = '/opt/aether/fetch-artifact.mjs';

export function kubernetesConfigFromEnv(env: Env): KubernetesRuntimeConfig {
  if (env.AETHER_APP_DOMAIN) assertPublicHostOutsideAppDomain(env.AETHER_PUBLIC_URL, env.AETHER_APP_DOMAIN);
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
    ...(env.AETHER_APP_DOMAIN
      ? {
          ingress: {
            domain: env.AETHER_APP_DOMAIN,
            ...(env.AETHER_INGRESS_CLASS ? { className: env.AETHER_INGRESS_CLASS } : {}),
            ...(env.AETHER_INGRESS_TLS_SECRET ? { tlsSecret: env.AETHER_INGRESS_TLS_SECRET } : {}),
          },
        }
      : {}),
  };
}

/**
 * Refuses an app domain the control plane's own host lies under: an app named after that host's
 * first label (`aether` for aether.example.com under example.com) would get the portal's host,
 * and a tenant's Ingress would take the portal's traffic. Checked once, at startup, rather than
 * per app: any such name would do, and the chart refuses the same values.
 */
export function assertPublicHostOutsideAppDomain(publicUrl: string, domain: string): void {
  const host = new URL(publicUrl).hostname.toLowerCase();
  const apps = domain.toLowerCase();
  if (host === apps || host.endsWith(`.${apps}`)) {
    throw new Error(
      `AETHER_APP_DOMAIN ${JSON.stringify(domain)} contains the control plane's host ${JSON.stringify(host)} (AETHER_PUBLIC_URL): an app could claim it; use a domain of its own for apps, e.g. apps.${apps}`,
    );
  }
}

/**
 * Where an app answers: its Ingress host when there is a domain (https with a TLS Secret),
 * else its Service's cluster-internal URL.
 */
export function appUrl(
  cfg: Pick<KubernetesRuntimeConfig, 'ingress' | 'namespace'>,
  appName: string,
  serviceName: string,
): string {
  if (!cfg.ingress) return serviceUrl(serviceName, cfg.namespace);
  return `${cfg.ingress.tlsSecret ? 'https' : 'http'}://${appHost(cfg.ingress, appName)}`;
}

export function appHost(ingress: IngressConfig, appName: string): string {
  return `${appName}.${ingress.domain}`;
}

/** The cluster-internal URL of an app's Service. */
export function serviceUrl(serviceName: string, namespace: string): string {
  return `http://${serviceName}.${namespace}.svc.cluster.local:${SERVICE_PORT}`;
}
