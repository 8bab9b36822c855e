import type { V1Deployment, V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { RolloutError, type RuntimeDeployment, type RuntimeStatus } from '../port';
import { syncPodDisruptionBudget } from './disruption-budget';
import { isCrashLooping, runtimeStatusOf } from './health';
import { progressDeadlineSecsOf, replicasOf } from './manifests';
import { deploymentSelector, LABELS, RESTARTED_AT_ANNOTATION, workloadName } from './names';
import { rolloutToKubernetes, type RolloutDeps } from './rollout';

/**
 * Scale, rolling restart and status of an app's running release. Both changes are merge
 * patches of the live Deployment (never a re-apply of the whole spec), then a wait for the
 * controller to finish, bounded by the progress deadline. A crash loop is not an error here: the
 * change stays in place, as Kubernetes keeps trying, and the returned status says so. A change
 * still unfinished at the deadline is a RolloutError('timeout'): the change stays in place too,
 * but the caller must not report it done.
 */

/** Runs `d.instances` pods of `d`; the PodDisruptionBudget follows the count. */
export async function scaleOnKubernetes(deps: RolloutDeps, d: RuntimeDeployment): Promise<RuntimeStatus> {
  const name = workloadName(d.appName);
  const replicas = replicasOf(d);
  // Gone (deleted out of band): the release is applied again, at its scale.
  if (!(await deps.api.getDeployment(name))) return rolloutAgain(deps, d);
  // The budget (maxUnavailable 1) is harmless at any count, its absence is not past one pod: it
  // comes before a scale-up and goes after a scale-down, so a failed patch never leaves pods
  // without it.
  if (replicas > 1) await syncPodDisruptionBudget(deps.api, deps.cfg, d.appName, replicas, deps.log);
  const patched = await deps.api.patchDeployment(name, { spec: { replicas } });
  if (replicas <= 1) await syncPodDisruptionBudget(deps.api, deps.cfg, d.appName, replicas, deps.log);
  deps.log('kubernetes: scaled', { app: d.appName, replicas });
  await waitOrThrow(deps, d, patched.metadata?.generation ?? 0, `scaling to ${replicas}`);
  return statusOnKubernetes(deps, d);
}

/**
 * Rolls every pod by stamping the pod template, as `kubectl rollout restart` does: with
 * maxUnavailable 0 an old pod goes only once its replacement is ready, so nothing stops serving.
 */
export async function restartOnKubernetes(deps: RolloutDeps, d: RuntimeDeployment): Promise<RuntimeStatus> {
  const name = workloadName(d.appName);
  const live = await deps.api.getDeployment(name);
  if (!live) return rolloutAgain(deps, d);
  // Nothing runs (scaled to 0): nothing to replace.
  if ((live.spec?.replicas ?? 1) === 0) return statusOnKubernetes(deps, d);
  const annotations = { [RESTARTED_AT_ANNOTATION]: new Date().toISOString() };
  const patched = await deps.api.patchDeployment(name, { spec: { template: { metadata: { annotations } } } });
  deps.log('kubernetes: rolling restart', { app: d.appName });
  await waitOrThrow(deps, d, patched.metadata?.generation ?? 0, 'the rolling restart');
  return statusOnKubernetes(deps, d);
}

/**
 * Health and pods of `target`; a release the Deployment no longer runs is `stopped`. Only pods
 * of the live pod template count: during (or after a stuck) restart, the previous ReplicaSet's
 * pods carry the same deployment id and would make a release whose new pods never get ready
 * look healthy.
 */
export async function statusOnKubernetes(
  deps: Pick<RolloutDeps, 'api'>,
  target: { appName: string; deploymentId: string },
): Promise<RuntimeStatus> {
  const live = await deps.api.getDeployment(workloadName(target.appName));
  const runsTarget = live?.spec?.template?.metadata?.labels?.[LABELS.deploymentId] === target.deploymentId;
  if (!runsTarget) return runtimeStatusOf([], 0);
  const pods = await currentPods(deps, live, target);
  return runtimeStatusOf(pods, live?.spec?.replicas ?? 1);
}

/** This release's pods made from the Deployment's current template (its newest ReplicaSet). */
async function currentPods(
  deps: Pick<RolloutDeps, 'api'>,
  live: V1Deployment | null,
  target: { appName: string; deploymentId: string },
): Promise<V1Pod[]> {
  const pods = await deps.api.listPods(deploymentSelector(target.appName, target.deploymentId));
  return pods.filter((pod) => isOfTemplate(pod, live?.spec?.template));
}

/**
 * A pod carries its template's annotations (the ReplicaSet controller copies them), so a pod of
 * an older template of the same release differs in RESTARTED_AT_ANNOTATION or the digest.
 * Annotations rather than the newest ReplicaSet's pod-template-hash: reading ReplicaSets would
 * need an RBAC rule that Roles of existing installs lack.
 */
export function isOfTemplate(pod: V1Pod, template: V1PodTemplateSpec | undefined): boolean {
  const want = template?.metadata?.annotations ?? {};
  const have = pod.metadata?.annotations ?? {};
  if (have[RESTARTED_AT_ANNOTATION] !== want[RESTARTED_AT_ANNOTATION]) return false;
  return Object.entries(want).every(([key, value]) => have[key] === value);
}

async function rolloutAgain(deps: RolloutDeps, d: RuntimeDeployment): Promise<RuntimeStatus> {
  const fields = { app: d.appName, deploymentId: d.deploymentId };
  deps.log('kubernetes: workload missing, applying the release again', fields);
  await rolloutToKubernetes(deps, d, async () => {});
  return statusOnKubernetes(deps, d);
}

type WaitOutcome = 'settled' | 'crash' | 'deadline';

/** Waits for the change; past the progress deadline, throws RolloutError('timeout'). */
async function waitOrThrow(deps: RolloutDeps, d: RuntimeDeployment, generation: number, change: string): Promise<void> {
  if ((await waitForDeployment(deps, d, generation)) !== 'deadline') return;
  const secs = progressDeadlineSecsOf(d, deps.cfg);
  const status = await statusOnKubernetes(deps, d);
  const ready = status.instances.filter((i) => i.ready).length;
  throw new RolloutError(
    'timeout',
    `${change} did not finish within the progress deadline (${secs} s): ${ready} of ${status.instances.length} new pod(s) ready; Kubernetes keeps trying`,
  );
}

/**
 * Until the controller has seen `generation` and the Deployment runs exactly its replicas, all
 * updated and available (old pods gone); or a pod of the current template crash-loops; or the
 * progress deadline passes.
 */
async function waitForDeployment(deps: RolloutDeps, d: RuntimeDeployment, generation: number): Promise<WaitOutcome> {
  const name = workloadName(d.appName);
  const deadline = Date.now() + progressDeadlineSecsOf(d, deps.cfg) * 1000 + deps.graceMs;
  for (;;) {
    const dep = await deps.api.getDeployment(name);
    // Gone (stopped meanwhile): nothing left to wait for; the status says `stopped`.
    if (!dep || isSettled(dep, generation)) return 'settled';
    const pods = await currentPods(deps, dep, d);
    if (pods.some(isCrashLooping)) {
      deps.log('kubernetes: a pod is crash-looping; not waiting further', { app: d.appName });
      return 'crash';
    }
    if (Date.now() > deadline) {
      deps.log('kubernetes: the change did not finish within the progress deadline', { app: d.appName });
      return 'deadline';
    }
    await sleep(deps.pollMs);
  }
}

function isSettled(dep: V1Deployment, generation: number): boolean {
  const want = dep.spec?.replicas ?? 1;
  const s = dep.status ?? {};
  if ((s.observedGeneration ?? 0) < generation) return false;
  // Absent counts are 0: the API server leaves zero-valued status fields out.
  const counts = [s.replicas, s.updatedReplicas, s.readyReplicas, s.availableReplicas];
  return counts.every((n) => (n ?? 0) === want);
}
