/**
 * Exactly what the Kubernetes driver calls in the apps namespace, as RBAC rules. The Helm
 * chart's Role must equal this; the fake API server enforces it on every request, so a call the
 * driver makes without a rule here fails in tests.
 *
 * `create` sits beside `patch` because a server-side apply that creates the object is also
 * authorised as a create.
 */
export const KUBERNETES_RBAC_RULES: ReadonlyArray<{ apiGroups: string[]; resources: string[]; verbs: string[] }> = [
  // apply, read status, put the previous template back on failure, delete on stop
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'create', 'patch', 'update', 'delete'] },
  // apply, delete on stop
  { apiGroups: [''], resources: ['services'], verbs: ['create', 'patch', 'delete'] },
  // the per-deployment fetch token: apply, list the app's to delete the stale ones
  { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch', 'list', 'delete'] },
  // rollout status and log sources, by label
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];
