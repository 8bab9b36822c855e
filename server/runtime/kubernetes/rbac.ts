/**
 * Exactly what the Kubernetes driver calls in the apps namespace, as RBAC rules. The Helm
 * chart's Role must equal this; the fake API server enforces it on every request, so a call the
 * driver makes without a rule here fails in tests.
 *
 * `create` sits beside `patch` because a server-side apply that creates the object is also
 * authorised as a create.
 */
export const KUBERNETES_RBAC_RULES: ReadonlyArray<{ apiGroups: string[]; resources: string[]; verbs: string[] }> = [
  // apply, read status, merge-patch replicas (scale) and the template (restart), put the
  // previous template back on failure, delete on stop
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'create', 'patch', 'update', 'delete'] },
  // apply, delete on stop
  { apiGroups: [''], resources: ['services'], verbs: ['create', 'patch', 'delete'] },
  // the per-deployment fetch token and the per-config-version (immutable) config: apply, list
  // the app's to delete those no workload uses anymore; no get: the driver never reads one back
  { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch', 'list', 'delete'] },
  // rollout status and log sources, by label
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
  // past one replica: apply; back to one, or on stop: delete
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['create', 'patch', 'delete'] },
  // with AETHER_APP_DOMAIN: apply; without it, or on stop: delete
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['create', 'patch', 'delete'] },
];
