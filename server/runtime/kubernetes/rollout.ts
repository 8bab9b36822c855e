import type { V1Deployment, V1PodTemplateSpec } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { RolloutError, type PhaseReport, type RolloutPhase, type RolloutResult, type RuntimeDeployment } from '../port';
import { KubernetesApiError, type KubeApi } from './client';
import { appUrl, type KubernetesRuntimeConfig } from './config';
import { syncPodDisruptionBudget } from './disruption-budget';
import { syncIngress } from './ingress';
import { deleteOptional } from './optional-kinds';
import { collectPodLog } from './log-lines';
import {
  buildConfigSecret,
  buildDeployment,
  buildFetchSecret,
  buildService,
  configSecretBytes,
  progressDeadlineSecsOf,
  replicasOf,
  SECRET_MAX_BYTES,
  settingsOf,
} from './manifests';
import { APP_CONTAINER, appSelector, configSecretName, deploymentSelector, fetchSecretName, LABELS, workloadName } from './names';
import { observePod, type PodObservation } from './pod-status';

export interface RolloutDeps {
  api: KubeApi;
  cfg: KubernetesRuntimeConfig;
  /** The per-deployment artifact fetch token (see fetch-token.ts). */
  tokenFor(deploymentId: string): string;
  pollMs: number;
  /** How long past the progress deadline the driver waits for the controller to say so. */
  graceMs: number;
  log: (msg: string, fields?: object) => void;
}

type OnPhase = (report: PhaseReport) => Promise<void>;

const OUTPUT_TAIL_LINES = 20;
// Consecutive failed status reads tolerated (an API server restart) before giving up.
const MAX_READ_FAILURES = 5;

/**
 * Applies `d` (fetch-token Secret, config Secret, Service, Ingress and PodDisruptionBudget when
 * wanted, Deployment) and watches it to running. On any failure the Deployment gets the
 * previous pod template back (or is removed when there was none), so the previous deployment keeps serving and the cluster does not
 * stay half-rolled.
 */
export async function rolloutToKubernetes(deps: RolloutDeps, d: RuntimeDeployment, onPhase: OnPhase): Promise<RolloutResult> {
  const { api, cfg } = deps;
  const name = workloadName(d.appName);
  const env = d.env ?? {};
  const configBytes = configSecretBytes(env);
  if (configBytes > SECRET_MAX_BYTES) {
    const count = Object.keys(env).length;
    throw new RolloutError(
      'config_too_large',
      `the config (${count} variables, ${configBytes} bytes) does not fit a Kubernetes Secret, which holds at most ${SECRET_MAX_BYTES} bytes`,
    );
  }
  const replicas = replicasOf(d);
  const previous = await api.getDeployment(name);
  const previousId = previous?.spec?.template?.metadata?.labels?.[LABELS.deploymentId] ?? null;
  try {
    await api.apply(buildFetchSecret(d, deps.tokenFor(d.deploymentId), cfg));
    // Immutable and named by its version: applying it again (a retry, a rollback) changes nothing.
    await api.apply(buildConfigSecret({ ...d, env }, cfg));
    await api.apply(buildService(d.appName, cfg));
    await syncIngress(api, cfg, d.appName, deps.log);
    // Before a Deployment of more than one pod, after one of fewer (see scaleOnKubernetes).
    if (replicas > 1) await syncPodDisruptionBudget(api, cfg, d.appName, replicas, deps.log);
    const applied = (await api.apply(buildDeployment(d, cfg))) as { metadata?: { generation?: number } };
    if (replicas <= 1) await syncPodDisruptionBudget(api, cfg, d.appName, replicas, deps.log);
    const generation = applied.metadata?.generation ?? 1;
    await new RolloutWatch(deps, d, name, generation, onPhase).run();
  } catch (err) {
    // Someone else's newer rollout must not be clobbered with our "previous" template.
    if (!(err instanceof ReplacedDuringRollout)) await restorePrevious(deps, d, name, previous, previousId);
    throw err;
  }
  await deleteStaleSecrets(deps, d);
  return { url: appUrl(cfg, d.appName, name) };
}

/** The Deployment now carries another deployment's template: that rollout owns it now. */
class ReplacedDuringRollout extends Error {
  constructor(name: string, ownId: string | undefined) {
    super(`Deployment ${name} was changed to deployment ${ownId ?? 'unknown'} during the rollout`);
  }
}

/** Polls the Deployment and this deployment's own pods (by label) until it is running or failed. */
class RolloutWatch {
  readonly #reported = new Set<RolloutPhase>();
  #last = performance.now();

  constructor(
    readonly deps: RolloutDeps,
    readonly d: RuntimeDeployment,
    readonly name: string,
    /** metadata.generation of our apply: status older than it describes someone else's spec. */
    readonly generation: number,
    readonly onPhase: OnPhase,
  ) {}

  async run(): Promise<void> {
    const { api, cfg, pollMs, graceMs } = this.deps;
    const deadline = Date.now() + progressDeadlineSecsOf(this.d, cfg) * 1000 + graceMs;
    let readFailures = 0;
    for (;;) {
      let dep: V1Deployment | null;
      let pods: PodObservation[];
      try {
        dep = await api.getDeployment(this.name);
        const items = await api.listPods(deploymentSelector(this.d.appName, this.d.deploymentId));
        pods = items.filter((p) => !p.metadata?.deletionTimestamp).map(observePod);
        readFailures = 0;
      } catch (err) {
        if (++readFailures >= MAX_READ_FAILURES || !(err instanceof KubernetesApiError) || err.status === 403) throw err;
        this.deps.log('kubernetes: status read failed, retrying', { deploymentId: this.d.deploymentId, error: (err as Error).message });
        await sleep(pollMs);
        continue;
      }
      if (!dep) throw new Error(`Deployment ${this.name} disappeared during the rollout`);
      const ownId = dep.spec?.template?.metadata?.labels?.[LABELS.deploymentId];
      if (ownId !== this.d.deploymentId) throw new ReplacedDuringRollout(this.name, ownId);
      if (await this.#step(dep, pods)) return;
      if (Date.now() > deadline) throw this.#timeout(pods, 'the rollout did not finish in time');
      await sleep(pollMs);
    }
  }

  /** One look at the state: throws on failure, reports phases reached, true once done. */
  async #step(dep: V1Deployment, pods: PodObservation[]): Promise<boolean> {
    const { cfg } = this.deps;
    for (const pod of pods) {
      if (pod.initFailure) throw new RolloutError(pod.initFailure.reason, pod.initFailure.message);
      if (pod.appCrash) {
        const tail = await this.#outputTail(pod);
        throw new RolloutError('crashed_on_start', `the app container in pod ${pod.name} stopped (${pod.appCrash.how}) before it was ready`, tail);
      }
    }
    const fetched = pods.find((p) => p.initDone);
    if (fetched) await this.#reportFetch(fetched);
    const started = pods.find((p) => p.appStarted);
    if (started) await this.#report('start', `app container running in pod ${started.name}`);
    const ready = pods.filter((p) => p.ready);
    if (ready[0]) await this.#report('health', `pod ${ready[0].name} passed its readiness probe (GET ${settingsOf(this.d, cfg).healthPath})`);

    const status = dep.status ?? {};
    // Status written before the controller saw our generation describes the old ReplicaSet.
    if ((status.observedGeneration ?? 0) < this.generation) return false;
    const progressing = status.conditions?.find((c) => c.type === 'Progressing');
    if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
      throw this.#timeout(pods, `no progress within ${progressDeadlineSecsOf(this.d, cfg)} s (ProgressDeadlineExceeded)`);
    }
    const want = dep.spec?.replicas ?? 1;
    const complete =
      ready.length >= want &&
      (status.updatedReplicas ?? 0) >= want &&
      (status.availableReplicas ?? 0) >= want &&
      // Old pods gone: the Service now only reaches this deployment.
      (status.replicas ?? 0) === (status.updatedReplicas ?? 0);
    if (!complete) return false;
    await this.#report('switch', `${ready.length} pod(s) of ${this.d.deploymentId} serving; previous pods removed`);
    return true;
  }

  async #reportFetch(pod: PodObservation): Promise<void> {
    const phases = pod.initDone?.phases;
    if (!phases) {
      // A pod restart that found the artifact already unpacked writes no phases.
      for (const phase of ['fetch', 'verify', 'unpack'] as const) await this.#report(phase, `done by init container in pod ${pod.name}`);
      return;
    }
    for (const p of phases) await this.#report(p.phase, `${p.message} (pod ${pod.name})`, p.ms);
  }

  async #report(phase: RolloutPhase, message: string, durationMs?: number): Promise<void> {
    // Phases are reported in order, once: a later phase seen first implies the earlier ones.
    const order: RolloutPhase[] = ['fetch', 'verify', 'unpack', 'start', 'health', 'switch'];
    for (const earlier of order.slice(0, order.indexOf(phase))) {
      if (!this.#reported.has(earlier)) await this.#report(earlier, 'done (seen only through a later phase)');
    }
    if (this.#reported.has(phase)) return;
    this.#reported.add(phase);
    const now = performance.now();
    const ms = durationMs ?? Math.round(now - this.#last);
    this.#last = now;
    await this.onPhase({ phase, message, durationMs: ms });
  }

  #timeout(pods: PodObservation[], why: string): RolloutError {
    const waiting = pods.map((p) => p.waitingReason).filter(Boolean);
    const notReady = pods.some((p) => p.appStarted && !p.ready) ? '; the app runs but never passed its readiness probe' : '';
    const detail = waiting.length ? `; waiting: ${[...new Set(waiting)].join(', ')}` : '';
    return new RolloutError('timeout', `${why}${notReady}${detail}`);
  }

  /** The app's last lines: the crashed instance's (previous) when it was restarted since. */
  async #outputTail(pod: PodObservation): Promise<string[]> {
    try {
      const lines = await collectPodLog(this.deps.api, pod.name, APP_CONTAINER, {
        tailLines: OUTPUT_TAIL_LINES,
        previous: pod.appCrash?.previous ?? false,
      });
      if (lines.length) return lines.map((e) => e.line);
    } catch (err) {
      this.deps.log('kubernetes: could not read the crashed container log', { pod: pod.name, error: (err as Error).message });
    }
    return pod.appCrash?.message ? pod.appCrash.message.split('\n').slice(-OUTPUT_TAIL_LINES) : [];
  }
}

/**
 * Puts the previous pod template back (a replace guarded by resourceVersion, retried on
 * conflict), as `kubectl rollout undo` does: the old ReplicaSet, never scaled down since
 * maxUnavailable is 0, stays the one serving. Without a previous Deployment, ours is removed.
 * Never throws: the rollout's own error is what the caller reports.
 */
async function restorePrevious(
  deps: RolloutDeps,
  d: RuntimeDeployment,
  name: string,
  previous: V1Deployment | null,
  previousId: string | null,
): Promise<void> {
  const { api, log } = deps;
  try {
    if (previous?.spec?.template && previousId !== d.deploymentId) {
      await putTemplateBack(api, name, previous.spec.template);
      log('kubernetes: previous pod template restored', { app: d.appName, deploymentId: d.deploymentId, restored: previousId });
    } else if (!previous) {
      await api.delete('Deployment', name);
      await api.delete('Service', name);
      await deleteOptional(api, 'Ingress', name, log);
      await deleteOptional(api, 'PodDisruptionBudget', name, log);
    }
    if (previousId !== d.deploymentId) await api.delete('Secret', fetchSecretName(d.appName, d.deploymentId));
    // Ours unless the previous release runs with the same config version.
    const config = configSecretName(d.appName, d.configVersionId);
    if (!secretsReferencedBy(previous?.spec?.template).has(config)) await api.delete('Secret', config);
  } catch (err) {
    log('kubernetes: could not restore the previous state after a failed rollout', { app: d.appName, error: (err as Error).message });
  }
}

async function putTemplateBack(api: KubeApi, name: string, template: V1PodTemplateSpec): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = await api.getDeployment(name);
    if (!current?.spec) return;
    current.spec.template = template;
    try {
      await api.replaceDeployment(current);
      return;
    } catch (err) {
      if (!(err instanceof KubernetesApiError && err.status === 409) || attempt >= 3) throw err;
    }
  }
}

/**
 * The app's Secrets no pod template uses anymore, now that the old pods are gone: earlier
 * deployments' fetch tokens and the config versions only they ran with. A Secret the live
 * template references (a config version shared with the release before) stays.
 */
async function deleteStaleSecrets(deps: RolloutDeps, d: RuntimeDeployment): Promise<void> {
  try {
    const live = await deps.api.getDeployment(workloadName(d.appName));
    const keep = secretsReferencedBy(live?.spec?.template);
    keep.add(fetchSecretName(d.appName, d.deploymentId));
    keep.add(configSecretName(d.appName, d.configVersionId));
    for (const secret of await deps.api.listSecretNames(appSelector(d.appName))) {
      if (!keep.has(secret)) await deps.api.delete('Secret', secret);
    }
  } catch (err) {
    deps.log('kubernetes: could not delete stale secrets', { app: d.appName, error: (err as Error).message });
  }
}

/** Names of the Secrets a pod template reads: envFrom, env valueFrom and volumes. */
export function secretsReferencedBy(template: V1PodTemplateSpec | undefined): Set<string> {
  const names = new Set<string>();
  const pod = template?.spec;
  for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
    for (const from of c.envFrom ?? []) if (from.secretRef?.name) names.add(from.secretRef.name);
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef?.name) names.add(e.valueFrom.secretKeyRef.name);
  }
  for (const v of pod?.volumes ?? []) if (v.secret?.secretName) names.add(v.secret.secretName);
  return names;
}
