import type { KubeApi } from './client';
import type { KubernetesRuntimeConfig } from './config';
import { appLabels, workloadName } from './names';
import { deleteOptional } from './optional-kinds';

/**
 * The app's PodDisruptionBudget, wanted with more than one replica: a node drain (a voluntary
 * eviction) then takes its pods one at a time. `maxUnavailable: 1` rather than `minAvailable:
 * 1`: it keeps meaning "one at a time" at any scale (minAvailable 1 would let a drain evict 4 of
 * 5 pods at once), and it still lets a drain proceed, where minAvailable N would block it.
 * Pods that are not ready may always be evicted: a crash-looping tenant must not block a drain.
 */
export function buildPodDisruptionBudget(appName: string, cfg: KubernetesRuntimeConfig): Record<string, unknown> {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: workloadName(appName), namespace: cfg.namespace, labels: appLabels(appName) },
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: appLabels(appName) },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}

/** Applies the budget for `replicas` > 1, deletes it for fewer (a single pod has nothing to spare). */
export async function syncPodDisruptionBudget(
  api: KubeApi,
  cfg: KubernetesRuntimeConfig,
  appName: string,
  replicas: number,
  log: (msg: string, fields?: object) => void,
): Promise<void> {
  if (replicas > 1) await api.apply(buildPodDisruptionBudget(appName, cfg));
  else await deleteOptional(api, 'PodDisruptionBudget', workloadName(appName), log);
}
