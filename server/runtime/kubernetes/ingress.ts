import type { KubeApi } from './client';
import { appHost, SERVICE_PORT, type KubernetesRuntimeConfig } from './config';
import { appLabels, isDns1123Subdomain, workloadName } from './names';
import { deleteOptional } from './optional-kinds';

/**
 * The app's Ingress (AETHER_APP_DOMAIN set): `<app>.<domain>` to the app's Service, whichever
 * deployment's pods it selects now, so the address survives deploys. null without a domain.
 */
export function buildIngress(appName: string, cfg: KubernetesRuntimeConfig): Record<string, unknown> | null {
  const ingress = cfg.ingress;
  if (!ingress) return null;
  const host = appHost(ingress, appName);
  // The domain passed env.ts's pattern; the whole host must still be one valid DNS name.
  if (!isDns1123Subdomain(host) || host.split('.').some((label) => label.length > 63)) {
    throw new Error(`${JSON.stringify(host)} is not a valid host name: check AETHER_APP_DOMAIN`);
  }
  const name = workloadName(appName);
  const backend = { service: { name, port: { number: SERVICE_PORT } } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: cfg.namespace, labels: appLabels(appName) },
    spec: {
      ...(ingress.className ? { ingressClassName: ingress.className } : {}),
      ...(ingress.tlsSecret ? { tls: [{ hosts: [host], secretName: ingress.tlsSecret }] } : {}),
      rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } }],
    },
  };
}

/** Applies the app's Ingress; without a domain (any more), deletes one left from before. */
export async function syncIngress(
  api: KubeApi,
  cfg: KubernetesRuntimeConfig,
  appName: string,
  log: (msg: string, fields?: object) => void,
): Promise<void> {
  const ingress = buildIngress(appName, cfg);
  if (ingress) await api.apply(ingress);
  else await deleteOptional(api, 'Ingress', workloadName(appName), log);
}
