import type { KubeConfig } from '@kubernetes/client-node';
import type { Env } from '../env';
import { KubeApi, loadKubeConfig } from './kubernetes/client';
import { appUrl, kubernetesConfigFromEnv, type KubernetesRuntimeConfig } from './kubernetes/config';
import { syncPodDisruptionBudget } from './kubernetes/disruption-budget';
import { fetchToken, fetchTokenKeyFromEnv } from './kubernetes/fetch-token';
import { kubernetesLogs } from './kubernetes/logs';
import { syncIngress } from './kubernetes/ingress';
import { deleteOptional } from './kubernetes/optional-kinds';
import { restartOnKubernetes, scaleOnKubernetes, statusOnKubernetes } from './kubernetes/lifecycle';
import { replicasOf } from './kubernetes/manifests';
import { appSelector, assertAppName, assertDeploymentId, LABELS, workloadName } from './kubernetes/names';
import { rolloutToKubernetes, type RolloutDeps } from './kubernetes/rollout';
import { RolloutError, type RuntimeDeployment, type RuntimeDriver } from './port';
import { appLocks } from './app-locks';

export interface KubernetesRuntimeOptions {
  kubeConfig: KubeConfig;
  config: KubernetesRuntimeConfig;
  /** Key of the per-deployment fetch tokens (fetchTokenKey of the configured secret). */
  fetchTokenKey: Buffer;
  /** How often rollout status is read. Default 1 s. */
  pollMs?: number;
  /** Extra wait past progressDeadlineSeconds for the controller to report it. Default 30 s. */
  graceMs?: number;
  log?: (msg: string, fields?: object) => void;
}

/**
 * The Kubernetes runtime: per app, in one namespace, a Deployment (its replicas the app's
 * scale), a Service, an Ingress with AETHER_APP_DOMAIN and a PodDisruptionBudget past one
 * replica. The artifact is fetched by an init container through the control plane with a
 * per-deployment token (kept in a Secret); rollouts are watched by deployment id and
 * generation. One rollout, scale, restart or stop at a time per app within this driver; the
 * rollout queue serialises across processes.
 */
export function createKubernetesRuntime(opts: KubernetesRuntimeOptions): RuntimeDriver {
  const api = new KubeApi(opts.kubeConfig, opts.config.namespace);
  const log = opts.log ?? (() => {});
  const deps: RolloutDeps = {
    api,
    cfg: opts.config,
    tokenFor: (id) => fetchToken(opts.fetchTokenKey, id),
    pollMs: opts.pollMs ?? 1000,
    graceMs: opts.graceMs ?? 30_000,
    log,
  };
  const withAppLock = appLocks();
  const rollout: RuntimeDriver['rollout'] = async (d, onPhase) => {
    assertDeployment(d);
    return withAppLock(d.appName, () => rolloutToKubernetes(deps, d, onPhase));
  };

  const syncRouting = async (d: RuntimeDeployment) => {
    await syncIngress(api, opts.config, d.appName, log);
    await syncPodDisruptionBudget(api, opts.config, d.appName, replicasOf(d), log);
  };

  return {
    kind: 'kubernetes',
    rollout,

    async stop(appName) {
      assertAppName(appName);
      const name = workloadName(appName);
      await withAppLock(appName, async () => {
        await api.delete('Deployment', name);
        await api.delete('Service', name);
        // The Secrets (fetch token, config) before the optional kinds: whatever those do, no
        // tenant credential outlives the app.
        for (const secret of await api.listSecretNames(appSelector(appName))) await api.delete('Secret', secret);
        await deleteOptional(api, 'Ingress', name, log);
        await deleteOptional(api, 'PodDisruptionBudget', name, log);
        log('kubernetes: stopped', { appName });
      });
    },

    async scale(d) {
      assertDeployment(d);
      return withAppLock(d.appName, () => scaleOnKubernetes(deps, d));
    },

    async restart(d) {
      assertDeployment(d);
      return withAppLock(d.appName, () => restartOnKubernetes(deps, d));
    },

    async status(target) {
      assertAppName(target.appName);
      assertDeploymentId(target.deploymentId);
      return statusOnKubernetes(deps, target);
    },

    restore(desired) {
      // Only a workload that is gone is applied again. One that is there is left alone: with
      // this deployment's template it runs already, and with another's, a rollout in flight
      // on another worker owns it (this process's app lock does not reach that far), and
      // re-applying would undo that rollout and delete its fetch Secret.
      return Promise.all(
        desired.map(async (d) => {
          try {
            assertDeployment(d);
            const name = workloadName(d.appName);
            const live = await api.getDeployment(name);
            if (live) {
              const owner = live.spec?.template?.metadata?.labels?.[LABELS.deploymentId];
              if (owner !== d.deploymentId) log('kubernetes: restore leaves a workload another deployment is rolling out', { appName: d.appName, owner });
              // Settings that changed while the control plane was down (a domain set) reach the app.
              else await syncRouting(d);
              return { deploymentId: d.deploymentId, url: appUrl(opts.config, d.appName, name), error: null };
            }
            const { url } = await rollout(d, async () => {});
            return { deploymentId: d.deploymentId, url, error: null };
          } catch (err) {
            const error =
              err instanceof RolloutError ? `${err.reason}: ${err.message}` : err instanceof Error ? err.message : String(err);
            log('kubernetes: restore failed', { appName: d.appName, deploymentId: d.deploymentId, error });
            return { deploymentId: d.deploymentId, url: null, error };
          }
        }),
      );
    },

    logs(target, q) {
      assertAppName(target.appName);
      assertDeploymentId(target.deploymentId);
      return kubernetesLogs(api, target, q, deps.pollMs);
    },
  };
}

function assertDeployment(d: RuntimeDeployment): void {
  assertAppName(d.appName);
  assertDeploymentId(d.deploymentId);
}

/** The driver as configured by the environment (AETHER_RUNTIME=kubernetes). */
export function createKubernetesRuntimeFromEnv(env: Env, log: (msg: string, fields?: object) => void): RuntimeDriver {
  const key = fetchTokenKeyFromEnv(env);
  // env.ts refuses kubernetes mode without a secret; this guards callers that skipped it.
  if (!key) throw new Error('AETHER_RUNTIME=kubernetes needs AETHER_RUNTIME_FETCH_SECRET');
  return createKubernetesRuntime({
    kubeConfig: loadKubeConfig(env.KUBECONFIG),
    config: kubernetesConfigFromEnv(env),
    fetchTokenKey: key,
    log,
  });
}
