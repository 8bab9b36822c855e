import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { safeExtract } from '../extract';
import {
  RolloutError,
  type ArtifactSource,
  type PhaseReport,
  type RolloutPhase,
  type RolloutResult,
  type RuntimeDeployment,
} from '../port';
import { fetchToFile } from './fetch';
import { waitHealthy } from './health';
import {
  dropCgroup,
  fenceOwnPort,
  isServing,
  removeTreesBut,
  retire,
  rmTree,
  stopInstance,
  unwatch,
  type RuntimeContext,
} from './instances';
import { appDirOf, appLogsDirOf, logFileOf, urlOf } from './layout';
import { ensureLogWriter } from './log-writer';
import { outputTail, pruneAppLogs } from './logs';
import { freePort } from './ports';
import { spawnApp, stopGroup, type Spawned } from './process';
import { killCgroup } from './sandbox/cgroups';
import { limitHit, watchLimits, type LimitHit, type WatchedLimits } from './sandbox/watchdog';
import { readState, removeState, writeState, type TInstanceState } from './state';
import { resolveStartCommand } from '../start-command';

export interface RolloutContext extends RuntimeContext {
  source: ArtifactSource;
  healthTimeoutMs: number;
  /** Size cap of one log file; a deployment keeps at most two (current and rotated). */
  logMaxBytes: number;
  /** How many deployments per app keep their logs. */
  logKeepPerApp: number;
}

type OnPhase = (report: PhaseReport) => Promise<void>;

/** A rollout's outcome, plus work that may run after it is reported, still under the app's lock. */
export interface LocalRolloutResult extends RolloutResult {
  /** Deletes the replaced instance's unpacked tree and any stale one (slow for a big node_modules). */
  cleanup: () => Promise<void>;
}

const nothingToClean = async () => {};

const OUTPUT_TAIL_LINES = 20;
/** How long a crashed app's output may take to reach its log before the tail is read. */
const LAST_WORDS_MS = 1000;

/**
 * fetch -> verify -> unpack -> start -> health -> switch for one deployment; the caller holds
 * the app's lock. Until `switch` commits, the previous instance is untouched, and a failure
 * removes what this attempt made (process, download, unpacked tree; the log stays).
 */
export async function runRollout(ctx: RolloutContext, d: RuntimeDeployment, onPhase: OnPhase): Promise<LocalRolloutResult> {
  let previous = await readState(ctx.layout, d.appName);
  if (previous?.deploymentId === d.deploymentId) {
    const t0 = performance.now();
    if (await isServing(previous)) {
      // A retried job, or restore() finding it alive: re-adopt rather than start a twin.
      const message = `already running as pid ${previous.pid} on port ${previous.port}`;
      if (!ctx.watches.has(d.deploymentId)) await watchAdopted(ctx, d, previous);
      await fenceOwnPort(ctx, d.appName, previous.port, true);
      await onPhase({ phase: 'health', message, durationMs: elapsed(t0) });
      return { url: urlOf(previous.port), cleanup: nothingToClean };
    }
    // Same deployment, but dead (or its pid reused): clear its remains and start it afresh.
    await retire(ctx, d.appName, previous);
    await removeState(ctx.layout, d.appName);
    previous = null;
  }
  const attempt = new Attempt(ctx, d, onPhase);
  try {
    return await attempt.run(previous);
  } catch (err) {
    await attempt.undo();
    throw err;
  } finally {
    await rm(attempt.archive, { force: true });
  }
}

/** One try at rolling out `d`, remembering what it made so that it can undo it. */
class Attempt {
  readonly dir: string;
  readonly archive: string;
  readonly logFile: string;
  #started: Spawned | null = null;
  #cgroups: string[] = [];
  /** The port the fence was opened to for this instance. */
  #port: number | null = null;
  #limits: WatchedLimits | null = null;
  /** A limit the instance hit before it became current (it was killed for it). */
  #hit: LimitHit | null = null;
  #committed = false;
  #pruned: Promise<void> = Promise.resolve();

  constructor(
    readonly ctx: RolloutContext,
    readonly d: RuntimeDeployment,
    readonly onPhase: OnPhase,
  ) {
    this.dir = appDirOf(ctx.layout, d.appName, d.deploymentId);
    this.archive = path.join(ctx.layout.tmpDir, `${d.deploymentId}.${randomUUID()}.tar.gz`);
    this.logFile = logFileOf(ctx.layout, d.appName, d.deploymentId);
  }

  async run(previous: TInstanceState | null): Promise<LocalRolloutResult> {
    const { ctx, d } = this;
    const refusal = (await ctx.sandbox).decision.refusal;
    if (refusal) throw new RolloutError('sandbox_unavailable', refusal);
    const fetched = await this.#phase('fetch', async () => {
      const r = await fetchToFile(ctx.source, d.storageKey, this.archive);
      return [r, `fetched ${r.bytes} bytes`];
    });
    await this.#phase('verify', async () => {
      if (fetched.digest !== d.digest) {
        throw new RolloutError('digest_mismatch', `artifact sha256 is ${fetched.digest}, expected ${d.digest}`);
      }
      return [null, `sha256 ${d.digest} verified`];
    });
    await this.#phase('unpack', async () => {
      await rmTree(this.dir); // leftovers of an interrupted attempt
      const r = await safeExtract(createReadStream(this.archive), this.dir, { maxBytes: d.maxUnpackedBytes });
      await rm(this.archive, { force: true });
      return [r, `unpacked ${r.files} files, ${r.bytes} bytes`];
    });
    const port = await freePort();
    const app = await this.#phase('start', () => this.#start(port));
    await this.#phase('health', () => this.#health(app, port));
    await this.#phase('switch', () => this.#switch(app, port, previous));
    const pruned = this.#pruned;
    return {
      url: urlOf(port),
      cleanup: async () => {
        await pruned;
        await removeTreesBut(ctx, d.appName, d.deploymentId);
      },
    };
  }

  /**
   * Stops and deletes what this attempt made, unless it already became the current instance.
   * Never throws: the caller reports the rollout's own error, not a cleanup hiccup.
   */
  async undo(): Promise<void> {
    if (this.#committed) return;
    try {
      await this.#pruned; // done under the app's lock, like everything this attempt does
      unwatch(this.ctx, this.d.deploymentId);
      if (this.#started) await stopInstance(this.ctx, this.#started.pid, this.#started.procStart, this.#cgroups);
      else await dropCgroup(this.ctx, this.#cgroups);
      if (this.#port !== null) await fenceOwnPort(this.ctx, this.d.appName, this.#port, false);
      await rmTree(this.dir);
    } catch (err) {
      this.ctx.log('runtime: cleanup after a failed rollout failed', { deploymentId: this.d.deploymentId, error: String(err) });
    }
  }

  async #start(port: number): Promise<[Spawned, string]> {
    const { ctx } = this;
    const command = await startCommand(this.dir);
    const logsDir = appLogsDirOf(ctx.layout, this.d.appName);
    await mkdir(logsDir, { recursive: true });
    const logWriter = await ensureLogWriter(ctx.layout.binDir);
    const sandbox = await ctx.sandbox;
    const appsDir = ctx.layout.appsDir;
    const above = [path.dirname(path.dirname(appsDir)), path.dirname(appsDir), appsDir, path.join(appsDir, this.d.appName)];
    const prepared = await sandbox.prepare(this.d.appName, this.d.deploymentId, this.dir, above);
    this.#cgroups = prepared.cgroups;
    this.#port = port;
    await fenceOwnPort(ctx, this.d.appName, port, true);
    const app = await spawnApp({ cwd: this.dir, port, logFile: this.logFile, logWriter, logMaxBytes: ctx.logMaxBytes, home: appsDir, prepared });
    this.#started = app;
    this.#limits = prepared.limits;
    watch(ctx, this.d, prepared.limits, (hit) => {
      if (this.#committed) return false;
      // Not current yet: the rollout fails with the hit (see #health), nothing else to tell.
      this.#hit = hit;
      void (prepared.cgroups.length ? killCgroup(prepared.cgroups) : stopGroup(app.pid, { graceMs: 0 }));
      return true;
    });
    // Housekeeping, not on the way to a healthy app: it runs while the app boots.
    this.#pruned = this.#pruneLogs();
    const as = prepared.uid === null ? '' : ` uid ${prepared.uid}`;
    return [app, `npm start (${command}) as pid ${app.pid}${as} (sandbox: ${sandbox.decision.mode}) with PORT=${port}`];
  }

  async #health(app: Spawned, port: number): Promise<[null, string]> {
    const timeoutMs = this.ctx.healthTimeoutMs;
    const outcome = await waitHealthy(port, timeoutMs, app.exited);
    if (outcome.kind === 'healthy') return [null, `answered HTTP ${outcome.status} on port ${port}`];
    // An app that exited has said its last words; the writer may still be writing them down.
    if (outcome.kind === 'exited') await Promise.race([app.logged, sleep(LAST_WORDS_MS)]);
    const lines = await outputTail(this.logFile, OUTPUT_TAIL_LINES);
    const hit = outcome.kind === 'exited' && this.#limits ? (this.#hit ?? (await limitHit(this.#limits).catch(() => null))) : null;
    if (hit) throw new RolloutError('limit_exceeded', `the app was stopped: ${hit.message}`, lines);
    if (outcome.kind === 'exited') {
      const how = outcome.signal ? `signal ${outcome.signal}` : `code ${outcome.code}`;
      throw new RolloutError('crashed_on_start', `the app exited (${how}) before answering HTTP`, lines);
    }
    // Never reachable: it exceeded its deadline to come up. Reachable but 5xx: it fails its check.
    if (outcome.lastStatus === null) {
      throw new RolloutError('timeout', `the app did not answer HTTP on port ${port} within ${timeoutMs} ms`, lines);
    }
    const message = `the app answered only HTTP ${outcome.lastStatus} on port ${port} for ${timeoutMs} ms`;
    throw new RolloutError('health_check_failed', message, lines);
  }

  async #switch(app: Spawned, port: number, previous: TInstanceState | null): Promise<[null, string]> {
    const { ctx, d } = this;
    await writeState(ctx.layout, d.appName, {
      deploymentId: d.deploymentId,
      pid: app.pid,
      port,
      digest: d.digest,
      storageKey: d.storageKey,
      startedAt: new Date().toISOString(),
      procStart: app.procStart,
      cgroups: this.#cgroups,
    });
    this.#committed = true;
    // Again, now that it listens: a control plane booting meanwhile prunes ports nobody listens on.
    await fenceOwnPort(ctx, d.appName, port, true);
    if (!previous) return [null, `serving at ${urlOf(port)}`];
    // Committed: failing to stop the old one must not fail the rollout that replaced it. Its
    // tree is deleted later (cleanup): only the process has to be gone before we report.
    unwatch(ctx, previous.deploymentId);
    await stopInstance(ctx, previous.pid, previous.procStart, previous.cgroups).catch((err: unknown) =>
      ctx.log('runtime: could not stop previous instance', { appName: d.appName, error: String(err) }),
    );
    await fenceOwnPort(ctx, d.appName, previous.port, false);
    return [null, `serving at ${urlOf(port)}, replaced ${previous.deploymentId} (pid ${previous.pid})`];
  }

  /** Bounds the logs kept for the app, never touching the current instance's or this one's. */
  async #pruneLogs(): Promise<void> {
    const { ctx, d } = this;
    const current = await readState(ctx.layout, d.appName);
    const protect = new Set([d.deploymentId, ...(current ? [current.deploymentId] : [])]);
    await pruneAppLogs(appLogsDirOf(ctx.layout, d.appName), ctx.logKeepPerApp, protect).catch((err: unknown) =>
      ctx.log('runtime: could not prune old logs', { appName: d.appName, error: String(err) }),
    );
  }

  async #phase<T>(phase: RolloutPhase, run: () => Promise<[T, string]>): Promise<T> {
    const t0 = performance.now();
    const [value, message] = await run();
    await this.onPhase({ phase, message, durationMs: elapsed(t0) });
    return value;
  }
}

/**
 * Watches an instance's limits. On a hit, `beforeCommit` handles it while the instance is
 * not current yet (returns true); after that the driver stops the instance and reports it.
 */
function watch(ctx: RolloutContext, d: RuntimeDeployment, limits: WatchedLimits, beforeCommit: (hit: LimitHit) => boolean): void {
  unwatch(ctx, d.deploymentId);
  const stop = watchLimits(limits, ctx.watchIntervalMs, (hit) => {
    ctx.watches.delete(d.deploymentId);
    if (!beforeCommit(hit)) ctx.onLimitHit(d.appName, d.deploymentId, hit);
  });
  ctx.watches.set(d.deploymentId, stop);
}

/** Resumes watching an instance re-adopted after a restart, with today's limits. */
async function watchAdopted(ctx: RolloutContext, d: RuntimeDeployment, state: TInstanceState): Promise<void> {
  const { settings } = await ctx.sandbox;
  const limits = { cgroups: state.cgroups ?? [], appDir: appDirOf(ctx.layout, d.appName, d.deploymentId), memoryBytes: settings.memoryBytes, pids: settings.pids, diskBytes: settings.diskBytes };
  watch(ctx, d, limits, () => false);
}

async function startCommand(dir: string): Promise<string> {
  const start = await resolveStartCommand(dir);
  if ('problem' in start) throw new RolloutError('crashed_on_start', start.problem);
  return start.command;
}

const elapsed = (t0: number) => Math.round(performance.now() - t0);
