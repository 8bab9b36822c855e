import { retire } from './local/instances';
import { assertSafeSegment, layoutOf, logFileOf } from './local/layout';
import { followLines } from './local/logs';
import { runRollout, type RolloutContext } from './local/rollout';
import { readState, removeState } from './local/state';
import { RolloutError, type ArtifactSource, type RuntimeDeployment, type RuntimeDriver } from './port';

export interface LocalRuntimeOptions {
  /** Root of everything the runtime keeps: `<dataDir>/runtime/{apps,logs,state,tmp}`. */
  dataDir: string;
  /** Reads artifacts straight from storage. */
  source: ArtifactSource;
  /** How long a new instance may take to answer HTTP. Default 30 s. */
  healthTimeoutMs?: number;
  /** Where the runtime reports what it did (adoptions, kills, cleanup trouble). Default: silent. */
  log?: (msg: string, fields?: object) => void;
}

/**
 * The embedded runtime: each app runs as a local process group (`npm start`, `PORT` set),
 * supervised through a state file per app so a restarted control plane can re-adopt it.
 * One rollout or stop at a time per app, within this driver instance: the rollout queue is
 * expected to serialise across processes.
 */
export function createLocalRuntime(opts: LocalRuntimeOptions): RuntimeDriver {
  const ctx: RolloutContext = {
    layout: layoutOf(opts.dataDir),
    log: opts.log ?? (() => {}),
    source: opts.source,
    healthTimeoutMs: opts.healthTimeoutMs ?? 30_000,
  };
  const withAppLock = appLocks();
  // async throughout, so that invalid input rejects instead of throwing synchronously.
  const rollout: RuntimeDriver['rollout'] = async (d, onPhase) => {
    assertDeployment(d);
    return withAppLock(d.appName, () => runRollout(ctx, d, onPhase));
  };

  return {
    kind: 'local',
    rollout,

    async stop(appName) {
      assertSafeSegment('app name', appName);
      return withAppLock(appName, async () => {
        const state = await readState(ctx.layout, appName);
        if (!state) return;
        await retire(ctx, appName, state);
        await removeState(ctx.layout, appName);
        ctx.log('runtime: stopped', { appName, deploymentId: state.deploymentId });
      });
    },

    restore(desired) {
      // A rollout of the current, live deployment re-adopts it without touching it; anything
      // else (dead, pid reused, not answering, other deployment) is started afresh.
      return Promise.all(
        desired.map(async (d) => {
          try {
            const { url } = await rollout(d, async () => {});
            ctx.log('runtime: restored', { appName: d.appName, deploymentId: d.deploymentId, url });
            return { deploymentId: d.deploymentId, url, error: null };
          } catch (err) {
            const error =
              err instanceof RolloutError ? `${err.reason}: ${err.message}` : err instanceof Error ? err.message : String(err);
            ctx.log('runtime: restore failed', { appName: d.appName, deploymentId: d.deploymentId, error });
            return { deploymentId: d.deploymentId, url: null, error };
          }
        }),
      );
    },

    async *logs(deploymentId, logOpts) {
      assertSafeSegment('deployment id', deploymentId);
      yield* followLines(logFileOf(ctx.layout, deploymentId), logOpts);
    },
  };
}

function assertDeployment(d: RuntimeDeployment): void {
  assertSafeSegment('app name', d.appName);
  assertSafeSegment('deployment id', d.deploymentId);
}

/** Runs tasks for the same key one after another; different keys run concurrently. */
function appLocks() {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const run = (tails.get(key) ?? Promise.resolve()).catch(() => {}).then(task);
    tails.set(key, run);
    void run
      .catch(() => {})
      .finally(() => {
        if (tails.get(key) === run) tails.delete(key);
      });
    return run;
  };
}
