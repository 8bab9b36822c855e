import type { SandboxProbe } from './local/sandbox/mode';
import { createSandbox, DEFAULT_SANDBOX_SETTINGS, type Sandbox, type SandboxSettings } from './local/sandbox/sandbox';
import { AppError } from '../errors';
import { retireState } from './local/adopt';
import type { RolloutContext } from './local/context';
import { assertInstanceId, assertSafeSegment, layoutOf } from './local/layout';
import { deploymentLogs } from './local/logs';
import { runRollout } from './local/rollout';
import { createPortAllocator, type PortRange } from './local/ports';
import { RouteTable } from './local/router/route-table';
import { restartApp, scaleApp, statusOf } from './local/scale';
import { readState } from './local/state';
import { RolloutError, type ArtifactSource, type HealthReport, type LogEntry, type RuntimeDeployment, type RuntimeDriver } from './port';
import { appLocks } from './app-locks';

export interface LocalRuntimeOptions {
  /** Root of everything the runtime keeps: `<dataDir>/runtime/{apps,logs,state,tmp}`. */
  dataDir: string;
  /** Reads artifacts straight from storage. */
  source: ArtifactSource;
  /** How long a new instance may take to answer HTTP, for a deployment without settings of its own. Default 30 s. */
  healthTimeoutMs?: number;
  /** Where the runtime reports what it did (adoptions, kills, cleanup trouble). Default: silent. */
  log?: (msg: string, fields?: object) => void;
  /** Size at which an instance's log is rotated (it keeps one rotated part). Default 5 MiB. */
  logMaxBytes?: number;
  /** Deployments per app whose logs are kept. Default {@link DEFAULT_LOG_KEEP_PER_APP}. */
  logKeepPerApp?: number;
  /** Where the sandbox's warnings go (no isolation possible...); said once, at creation. */
  warn?: (msg: string, fields?: object) => void;
  /** Limits and policy of the app sandbox; defaults in {@link DEFAULT_SANDBOX_SETTINGS}. */
  sandbox?: Partial<SandboxSettings>;
  /** What the host allows; by default measured once by running bwrap. */
  sandboxProbe?: () => SandboxProbe;
  /** The ports instances listen on. Default {@link DEFAULT_APP_PORT_RANGE}. */
  portRange?: PortRange;
  /** How often running instances' limits are checked. Default 5 s. */
  watchIntervalMs?: number;
  /** The router's table: where each app's requests go. Default: a table of the driver's own (no router). */
  routes?: RouteTable;
  /**
   * The router serving `routes`: the apps' stable URLs. `ready` is its listening (null while it
   * does not listen: URLs are then the first instance's). Absent: the first instance's.
   */
  router?: { url(appName: string): string; ready?(): Promise<unknown> | null };
  /** How long an instance leaving the router may finish its requests. Default 30 s. */
  drainTimeoutMs?: number;
  /** An app's health changed (an instance exited, restarted, failed its checks...). */
  onHealth?: (report: HealthReport) => void;
}

/**
 * Logs kept per app: the current deployment, the rollback target and a run of failed attempts
 * before them (a bad afternoon of deploys) stay readable; with the 5 MiB cap and one rotated
 * part that bounds an app's logs at 100 MiB.
 */
export const DEFAULT_LOG_KEEP_PER_APP = 10;
export const DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024;

/** The local runtime runs each instance as one process: its output is the one container, `app`. */
const LOCAL_CONTAINER = 'app';

/**
 * The embedded runtime: each app runs as N local process groups behind the router (`npm start`
 * or the release's start command, `PORT` and the release's config in its environment),
 * supervised here and remembered in a state file per app so a restarted control plane can
 * re-adopt them. One operation at a time per app, within this driver instance: the rollout
 * queue is expected to serialise across processes.
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
    source: opts.source,
    healthTimeoutMs: opts.healthTimeoutMs ?? 30_000,
    ports: createPortAllocator(opts.portRange),
    logMaxBytes: opts.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
    logKeepPerApp: opts.logKeepPerApp ?? DEFAULT_LOG_KEEP_PER_APP,
    table: opts.routes ?? new RouteTable(),
    onHealth: (report) => {
      // Not the message: it can quote the app's own words (a tenant's output stays out of our logs).
      log('runtime: app health', { appName: report.appName, deploymentId: report.deploymentId, health: report.health, instance: report.instance });
      try {
        opts.onHealth?.(report);
      } catch (err) {
        log('runtime: health report failed', { appName: report.appName, error: String(err) });
      }
    },
    withAppLock,
    supervisors: new Map(),
    drainMs: opts.drainTimeoutMs ?? 30_000,
    routerUrl: opts.router ? (app) => (opts.router!.ready?.() === null ? undefined : opts.router!.url(app)) : undefined,
  };
  // async throughout, so that invalid input rejects instead of throwing synchronously.
  const rollout: RuntimeDriver['rollout'] = async (d, onPhase) => {
    assertDeployment(d);
    return new Promise((resolve, reject) => {
      void withAppLock(d.appName, async () => {
        // Never a URL with no port: a router starting to listen is waited for.
        await opts.router?.ready?.()?.catch(() => undefined);
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
        const sup = ctx.supervisors.get(appName);
        if (state) await retireState(ctx, appName, state);
        else if (sup) sup.detach();
        ctx.supervisors.delete(appName);
        ctx.table.removeApp(appName);
        if (state) ctx.log('runtime: stopped', { appName, deploymentId: state.deploymentId });
      });
    },

    async scale(d) {
      assertDeployment(d);
      return withAppLock(d.appName, () => scaleApp(ctx, d));
    },

    async restart(d) {
      assertDeployment(d);
      return withAppLock(d.appName, () => restartApp(ctx, d));
    },

    async status(target) {
      assertDeployment(target);
      return withAppLock(target.appName, () => statusOf(ctx, target));
    },

    restore(desired) {
      // A rollout of the current deployment re-adopts its live instances and starts the
      // missing ones; anything else (nothing alive, other deployment) is started afresh.
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
      if (q.instance !== undefined) assertInstanceId(q.instance);
      return deploymentLogs(ctx.layout, target, q);
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

function assertDeployment(d: { appName: string; deploymentId: string }): void {
  assertSafeSegment('app name', d.appName);
  assertSafeSegment('deployment id', d.deploymentId);
}
