import { retire } from './local/instances';
import type { SandboxProbe } from './local/sandbox/mode';
import { createSandbox, DEFAULT_SANDBOX_SETTINGS, type Sandbox, type SandboxSettings } from './local/sandbox/sandbox';
import { existsSync } from 'node:fs';
import { AppError } from '../errors';
import { assertSafeSegment, layoutOf, legacyLogFileOf, logFileOf } from './local/layout';
import { followEntries } from './local/logs';
import { runRollout, type RolloutContext } from './local/rollout';
import { readState, removeState } from './local/state';
import { RolloutError, type ArtifactSource, type LogEntry, type RuntimeDeployment, type RuntimeDriver } from './port';
import { appLocks } from './app-locks';

export interface LocalRuntimeOptions {
  /** Root of everything the runtime keeps: `<dataDir>/runtime/{apps,logs,state,tmp}`. */
  dataDir: string;
  /** Reads artifacts straight from storage. */
  source: ArtifactSource;
  /** How long a new instance may take to answer HTTP. Default 30 s. */
  healthTimeoutMs?: number;
  /** Where the runtime reports what it did (adoptions, kills, cleanup trouble). Default: silent. */
  log?: (msg: string, fields?: object) => void;
  /** Size at which a deployment's log is rotated (it keeps one rotated part). Default 5 MiB. */
  logMaxBytes?: number;
  /** Deployments per app whose logs are kept. Default {@link DEFAULT_LOG_KEEP_PER_APP}. */
  logKeepPerApp?: number;
  /** Where the sandbox's warnings go (no isolation possible...); said once, at creation. */
  warn?: (msg: string, fields?: object) => void;
  /** Limits and policy of the app sandbox; defaults in {@link DEFAULT_SANDBOX_SETTINGS}. */
  sandbox?: Partial<SandboxSettings>;
  /** What the host allows; by default measured once by running bwrap. */
  sandboxProbe?: () => SandboxProbe;
  /** How often running instances' limits are checked. Default 5 s. */
  watchIntervalMs?: number;
  /** A running instance was stopped at a limit: its deployment failed (and no longer runs). */
  onInstanceFailed?: (e: { appName: string; deploymentId: string; reason: 'limit_exceeded'; message: string }) => Promise<void>;
}

/**
 * Logs kept per app: the current deployment, the rollback target and a run of failed attempts
 * before them (a bad afternoon of deploys) stay readable; with the 5 MiB cap and one rotated
 * part that bounds an app's logs at 100 MiB.
 */
export const DEFAULT_LOG_KEEP_PER_APP = 10;
export const DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024;

/** The local runtime runs each app as one process: its output is the one container, `app`. */
const LOCAL_CONTAINER = 'app';

/**
 * The embedded runtime: each app runs as a local process group (`npm start`, `PORT` set),
 * supervised through a state file per app so a restarted control plane can re-adopt it.
 * One rollout or stop at a time per app, within this driver instance: the rollout queue is
 * expected to serialise across processes.
 */
export function createLocalRuntime(opts: LocalRuntimeOptions): RuntimeDriver {
  const layout = layoutOf(opts.dataDir);
  const log = opts.log ?? (() => {});
  const withAppLock = appLocks();
  const ctx: RolloutContext = {
    layout,
    log,
    sandbox: startSandbox(layout.stateDir, { ...DEFAULT_SANDBOX_SETTINGS, ...opts.sandbox }, opts.warn ?? log, opts.sandboxProbe),
    watchIntervalMs: opts.watchIntervalMs ?? 5000,
    watches: new Map(),
    onLimitHit: (appName, deploymentId, hit) =>
      void withAppLock(appName, async () => {
        const state = await readState(ctx.layout, appName);
        if (state?.deploymentId !== deploymentId) return;
        const message = `stopped: ${hit.message}`;
        log('runtime: instance stopped at a limit', { appName, deploymentId, limit: hit.kind });
        await retire(ctx, appName, state);
        await removeState(ctx.layout, appName);
        await opts.onInstanceFailed?.({ appName, deploymentId, reason: 'limit_exceeded', message });
      }).catch((err: unknown) => log('runtime: stopping an instance at its limit failed', { appName, deploymentId, error: String(err) })),
    source: opts.source,
    healthTimeoutMs: opts.healthTimeoutMs ?? 30_000,
    logMaxBytes: opts.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
    logKeepPerApp: opts.logKeepPerApp ?? DEFAULT_LOG_KEEP_PER_APP,
  };
  // async throughout, so that invalid input rejects instead of throwing synchronously.
  const rollout: RuntimeDriver['rollout'] = async (d, onPhase) => {
    assertDeployment(d);
    return new Promise((resolve, reject) => {
      void withAppLock(d.appName, async () => {
        const result = await runRollout(ctx, d, onPhase).catch((err: unknown) => {
          reject(err);
          return null;
        });
        if (!result) return;
        resolve({ url: result.url });
        // Reported already; the lock stays held until the old tree is gone, so the next
        // rollout or stop of this app never overlaps the deletion.
        await result.cleanup();
      });
    });
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

    // Not a generator itself: bad input throws here, before the caller starts a response.
    logs(target, q): AsyncIterable<LogEntry> {
      assertSafeSegment('app name', target.appName);
      assertSafeSegment('deployment id', target.deploymentId);
      if (q.container !== undefined && q.container !== LOCAL_CONTAINER) {
        throw new AppError('not_found', `no container "${q.container}": local apps run as one process ("${LOCAL_CONTAINER}")`);
      }
      const file = logFileOf(ctx.layout, target.appName, target.deploymentId);
      const legacy = legacyLogFileOf(ctx.layout, target.deploymentId);
      return followEntries(!existsSync(file) && existsSync(legacy) ? legacy : file, q);
    },
  };
}

/** Probes the host once, saying at once (not at the first deploy) when isolation is weak. */
function startSandbox(stateDir: string, settings: SandboxSettings, warn: (msg: string, fields?: object) => void, probe?: () => SandboxProbe): Promise<Sandbox> {
  const sandbox = createSandbox(stateDir, settings, probe);
  void sandbox.then(
    (s) => {
      if (s.decision.warning) warn(`runtime: ${s.decision.warning}`, { sandbox: s.decision.mode });
      else if (!s.cgroups) warn('runtime: no writable cgroups: app memory, process and cpu limits are not enforced', { sandbox: s.decision.mode });
      if (s.network.warning) warn(`runtime: ${s.network.warning}`, { sandbox: s.decision.mode, network: settings.network });
      if (s.uidWarning) warn(`runtime: ${s.uidWarning}`, { sandbox: s.decision.mode });
    },
    (err: unknown) => warn('runtime: sandbox setup failed', { error: String(err) }),
  );
  return sandbox;
}

function assertDeployment(d: RuntimeDeployment): void {
  assertSafeSegment('app name', d.appName);
  assertSafeSegment('deployment id', d.deploymentId);
}

