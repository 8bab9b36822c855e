import { KubernetesApiError, type KubeApi } from './client';

type OptionalKind = 'Ingress' | 'PodDisruptionBudget';

// The rule rbac.ts (and the chart's Role) has for each kind's delete.
const DELETE_RULE: Record<OptionalKind, string> = {
  Ingress: 'apiGroups [networking.k8s.io], resources [ingresses], verb delete',
  PodDisruptionBudget: 'apiGroups [policy], resources [poddisruptionbudgets], verb delete',
};

/**
 * Deletes an Ingress or PodDisruptionBudget, which every rollout and stop does whether or not
 * one exists. A Role from before these kinds (rbac.create=false, not updated) refuses that with
 * 403; such a cluster cannot have had one created by the driver either, so "forbidden" is taken
 * as "nothing to delete", with a warning naming the missing rule, rather than failing every
 * deploy and stop.
 */
export async function deleteOptional(
  api: KubeApi,
  kind: OptionalKind,
  name: string,
  log: (msg: string, fields?: object) => void,
): Promise<void> {
  try {
    await api.delete(kind, name);
  } catch (err) {
    if (!(err instanceof KubernetesApiError && err.status === 403)) throw err;
    log(`kubernetes: not allowed to delete ${kind} ${name}; treated as absent. Add the Role rule: ${DELETE_RULE[kind]}`, {
      kind,
      name,
      namespace: api.namespace,
    });
  }
}
