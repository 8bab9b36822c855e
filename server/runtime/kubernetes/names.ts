import { createHash } from 'node:crypto';
import { APP_NAME_RE } from '../../contract/app-name';

/**
 * Names and labels of what the driver creates. App names are already DNS-1123 labels
 * (server/contract/app-name.ts); a Service name must also start with a letter (DNS-1035), so
 * apps whose name starts with a digit get a prefixed name, shortened with a hash when needed.
 */

export const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS1035_LABEL_RE = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Label values: empty, or up to 63 chars of [A-Za-z0-9_.-] starting and ending alphanumeric.
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isDns1123Label = (s: string) => DNS1123_LABEL_RE.test(s);
export const isDns1035Label = (s: string) => DNS1035_LABEL_RE.test(s);
export const isDns1123Subdomain = (s: string) => s.length <= 253 && DNS1123_SUBDOMAIN_RE.test(s);
export const isLabelValue = (s: string) => s.length <= 63 && LABEL_VALUE_RE.test(s);

/** Label keys every object carries; `app_name` and `deployment_id` are the seed's names. */
export const LABELS = { app: 'app', appName: 'app_name', deploymentId: 'deployment_id', configVersionId: 'config_version_id' } as const;
export const APP_LABEL_VALUE = 'aether';
export const DIGEST_ANNOTATION = 'aether.dev/digest';
/** On the pod template: changing it rolls every pod (`aether restart`), as `kubectl rollout restart` does. */
export const RESTARTED_AT_ANNOTATION = 'aether.dev/restarted-at';
export const INIT_CONTAINER = 'fetch-artifact';
export const APP_CONTAINER = 'app';
export const FIELD_MANAGER = 'aether-control-plane';

/** Refuses what could not become a valid object name or label before any API call. */
export function assertAppName(appName: string): void {
  if (!APP_NAME_RE.test(appName)) throw new Error(`invalid app name ${JSON.stringify(appName)}: not a DNS-1123 label`);
}

export function assertDeploymentId(id: string): void {
  if (!UUID_RE.test(id)) throw new Error(`invalid deployment id ${JSON.stringify(id)}: not a UUID`);
}

export function assertConfigVersionId(id: string): void {
  if (!UUID_RE.test(id)) throw new Error(`invalid config version id ${JSON.stringify(id)}: not a UUID`);
}

/** The Deployment's and the Service's name: the app name when it is a DNS-1035 label. */
export function workloadName(appName: string): string {
  assertAppName(appName);
  if (isDns1035Label(appName)) return appName;
  const prefixed = `app-${appName}`;
  if (prefixed.length <= 63) return prefixed;
  const hash = createHash('sha256').update(appName).digest('hex').slice(0, 8);
  return `app-${appName.slice(0, 63 - 4 - 9).replace(/-+$/, '')}-${hash}`;
}

/** The per-deployment Secret holding the artifact fetch token. */
export function fetchSecretName(appName: string, deploymentId: string): string {
  assertDeploymentId(deploymentId);
  return `${workloadName(appName)}-fetch-${deploymentId}`;
}

/**
 * The immutable Secret holding one config version's variables: the same name for every
 * release of the app that runs with that version.
 */
export function configSecretName(appName: string, configVersionId: string): string {
  assertConfigVersionId(configVersionId);
  return `${workloadName(appName)}-config-${configVersionId}`;
}

/** Selects every object of one app. */
export function appSelector(appName: string): string {
  return `${LABELS.app}=${APP_LABEL_VALUE},${LABELS.appName}=${appName}`;
}

/** Selects the pods (and Secret) of one deployment only: never the old ReplicaSet's pods. */
export function deploymentSelector(appName: string, deploymentId: string): string {
  return `${appSelector(appName)},${LABELS.deploymentId}=${deploymentId}`;
}

export function appLabels(appName: string): Record<string, string> {
  return { [LABELS.app]: APP_LABEL_VALUE, [LABELS.appName]: appName };
}

export function configLabels(appName: string, configVersionId: string): Record<string, string> {
  return { ...appLabels(appName), [LABELS.configVersionId]: configVersionId };
}

export function deploymentLabels(appName: string, deploymentId: string): Record<string, string> {
  return { ...appLabels(appName), [LABELS.deploymentId]: deploymentId };
}
