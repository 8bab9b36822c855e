import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RolloutError, type ReleaseSettings, type RuntimeDeployment } from '../port';
import { waitHealthy } from './health';
import { dropCgroup, fenceOwnPort, stopInstance, type RuntimeContext } from './instances';
import { appDirOf, appLogsDirOf, logFileOf } from './layout';
import { ensureLogWriter } from './log-writer';
import { outputTail } from './logs';
import type { PortAllocator } from './ports';
import { isSameProcess, spawnApp, stopGroup, type Spawned } from './process';
import { killCgroup } from './sandbox/cgroups';
import { limitHit, watchLimits, type LimitHit, type WatchedLimits } from './sandbox/watchdog';
import type { TInstanceRecord } from './state';
import { resolveStartCommand } from '../start-command';

/** An instance this process runs or re-adopted. */
export interface LiveInstance extends TInstanceRecord {
  /** Our child's handle; null for a process re-adopted after a control-plane restart. */
  spawned: Spawned | null;
  limits: WatchedLimits | null;
  /** The limit it was killed at, if any. */
  hit: LimitHit | null;
  unwatch: () => void;
  /** Stopped on purpose (scale down, replacement, stop): its exit is no crash. */
  retiring: boolean;
  /** Re-openings of its fence while its health is awaited: stopping waits for them first. */
  fenceReasserts?: Promise<void>;
  /** The uid it runs as, null without a uid sandbox (said in the start phase). */
  uid?: number | null;
}

export const OUTPUT_TAIL_LINES = 20;
/** How long a crashed app's output may take to reach its log before the tail is read. */
const LAST_WORDS_MS = 1000;
const FENCE_REASSERT_MS = 1000;

/** The release's settings; the driver's defaults for a caller that sent none. */
export function settingsOf(defaultHealthTimeoutMs: number, d: RuntimeDeployment): Required<ReleaseSettings> {
  const s: Partial<ReleaseSettings> = d.settings ?? {};
  return {
    startCommand: s.startCommand ?? null,
    healthPath: s.healthPath ?? '/',
    healthTimeoutMs: s.healthTimeoutMs ?? defaultHealthTimeoutMs,
    healthIntervalMs: s.healthIntervalMs ?? 10_000,
    crashLoopRestarts: s.crashLoopRestarts ?? 5,
    crashLoopWindowMs: s.crashLoopWindowMs ?? 5 * 60_000,
  };
}

export interface SpawnContext extends RuntimeContext {
  logMaxBytes: number;
  healthTimeoutMs: number;
  ports: PortAllocator;
}

/**
 * Starts instance `id` of `d` from its unpacked tree, on a fresh port, in its own sandbox cgroup
 * (`<app>_<deployment>_<id>`, then `_<generation>` for a restart, which may overlap its predecessor).
 */
export async function startInstance(ctx: SpawnContext, d: RuntimeDeployment, id: string, generation = 0): Promise<LiveInstance> {
  const settings = settingsOf(ctx.healthTimeoutMs, d);
  const dir = appDirOf(ctx.layout, d.appName, d.deploymentId);
  if (settings.startCommand === null) {
    const start = await resolveStartCommand(dir);
    if ('problem' in start) throw new RolloutError('crashed_on_start', start.problem);
  }
  await mkdir(appLogsDirOf(ctx.layout, d.appName), { recursive: true });
  const logWriter = await ensureLogWriter(ctx.layout.binDir);
  const sandbox = await ctx.sandbox;
  const appsDir = ctx.layout.appsDir;
  const above = [path.dirname(path.dirname(appsDir)), path.dirname(appsDir), appsDir, path.join(appsDir, d.appName)];
  const prepared = await sandbox.prepare(d.appName, `${d.deploymentId}_${id}${generation ? `_${generation}` : ''}`, dir, above);
  // From here on a failure must drop the cgroup prepare() made (and the fence, once opened).
  let port = 0;
  let spawned: Spawned;
  try {
    port = await ctx.ports.take();
    spawned = await spawnApp({
      cwd: dir,
      port,
      logFile: logFileOf(ctx.layout, d.appName, d.deploymentId, id),
      logWriter,
      logMaxBytes: ctx.logMaxBytes,
      home: appsDir,
      prepared,
      config: d.env ?? {},
      startCommand: settings.startCommand,
    });
    // Opened once the app's uid has a process: another control plane booting on this host prunes
    // the elements of uids with none (see pruneOwnPorts). awaitHealthy re-asserts it meanwhile.
    await fenceOwnPort(ctx, d.appName, port, true);
  } catch (err) {
    await dropCgroup(ctx, prepared.cgroups);
    if (port) await fenceOwnPort(ctx, d.appName, port, false);
    throw err;
  }
  const inst: LiveInstance = {
    id,
    pid: spawned.pid,
    port,
    procStart: spawned.procStart,
    cgroups: prepared.cgroups,
    startedAt: new Date().toISOString(),
    spawned,
    limits: prepared.limits,
    hit: null,
    unwatch: () => {},
    retiring: false,
    uid: prepared.uid,
  };
  watchInstance(ctx, inst);
  return inst;
}

/** Watches an instance's limits: a hit kills it (its exit then says why). */
export function watchInstance(ctx: RuntimeContext, inst: LiveInstance): void {
  if (!inst.limits) return;
  inst.unwatch = watchLimits(inst.limits, ctx.watchIntervalMs, (hit) => {
    inst.hit = hit;
    ctx.log('runtime: instance stopped at a limit', { pid: inst.pid, instance: inst.id, limit: hit.kind });
    void (inst.cgroups?.length ? killCgroup(inst.cgroups) : stopGroup(inst.pid, { graceMs: 0 }));
  });
}

/** Resolves when the instance's process is gone: its exit event, or /proc polls for a re-adopted one. */
export async function exitOf(inst: LiveInstance): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (inst.spawned) return inst.spawned.exited;
  while (await isSameProcess(inst.pid, inst.procStart)) await sleep(1000);
  return { code: null, signal: null };
}

/** Waits until the instance answers its health check; throws the RolloutError saying why it did not. */
export async function awaitHealthy(ctx: SpawnContext, d: RuntimeDeployment, inst: LiveInstance): Promise<string> {
  const { healthPath, healthTimeoutMs: timeoutMs } = settingsOf(ctx.healthTimeoutMs, d);
  const exited = inst.spawned?.exited ?? exitOf(inst);
  // Until it answers, its own-port element is re-asserted: a control plane booting before the
  // app's uid switch could have pruned it, and the app's answers would be refused for good.
  // Chained on the instance: stopLive (a sibling's failure undoing the rollout) awaits it, so
  // no re-opening lands after the fence is closed and the port goes to another tenant.
  inst.fenceReasserts ??= Promise.resolve();
  const timer = setInterval(() => {
    inst.fenceReasserts = inst.fenceReasserts!.then(() => (inst.retiring ? undefined : fenceOwnPort(ctx, d.appName, inst.port, true)));
  }, FENCE_REASSERT_MS);
  const outcome = await waitHealthy(inst.port, timeoutMs, exited, healthPath).finally(async () => {
    clearInterval(timer);
    await inst.fenceReasserts;
  });
  const where = healthPath === '/' ? `on port ${inst.port}` : `on port ${inst.port} (GET ${healthPath})`;
  if (outcome.kind === 'healthy') return `answered HTTP ${outcome.status} ${where}`;
  const lines = await lastWords(ctx, d, inst, outcome.kind === 'exited');
  const hit = outcome.kind === 'exited' && inst.limits ? (inst.hit ?? (await limitHit(inst.limits).catch(() => null))) : null;
  if (hit) throw new RolloutError('limit_exceeded', `the app was stopped: ${hit.message}`, lines);
  if (outcome.kind === 'exited') {
    const how = outcome.signal ? `signal ${outcome.signal}` : `code ${outcome.code}`;
    throw new RolloutError('crashed_on_start', `the app exited (${how}) before answering HTTP`, lines);
  }
  if (outcome.lastStatus === null) {
    throw new RolloutError('timeout', `the app did not answer HTTP on port ${inst.port} within ${timeoutMs} ms`, lines);
  }
  throw new RolloutError('health_check_failed', `the app answered only HTTP ${outcome.lastStatus} ${where} for ${timeoutMs} ms`, lines);
}

/** The last lines an instance wrote; after an exit, once the log writer has caught up. */
export async function lastWords(ctx: RuntimeContext, d: RuntimeDeployment, inst: LiveInstance, exited: boolean): Promise<string[]> {
  if (exited && inst.spawned) await Promise.race([inst.spawned.logged, sleep(LAST_WORDS_MS)]);
  return outputTail(logFileOf(ctx.layout, d.appName, d.deploymentId, inst.id), OUTPUT_TAIL_LINES).catch(() => []);
}

/** Stops an instance on purpose (TERM, then KILL) and closes its port's fence; never throws. */
export async function stopLive(ctx: RuntimeContext, appName: string, inst: TInstanceRecord & Partial<LiveInstance>): Promise<void> {
  inst.retiring = true;
  inst.unwatch?.();
  await stopInstance(ctx, inst.pid, inst.procStart, inst.cgroups).catch((err: unknown) =>
    ctx.log('runtime: could not stop an instance', { appName, instance: inst.id, error: String(err) }),
  );
  await inst.fenceReasserts;
  await fenceOwnPort(ctx, appName, inst.port, false);
}

/** What the state file keeps of an instance. */
export const recordOf = (i: LiveInstance): TInstanceRecord => ({
  id: i.id,
  pid: i.pid,
  port: i.port,
  procStart: i.procStart,
  cgroups: i.cgroups,
  startedAt: i.startedAt,
});
