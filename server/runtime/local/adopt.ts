import type { RuntimeDeployment } from '../port';
import type { RolloutContext } from './context';
import { settingsOf, stopLive, watchInstance, type LiveInstance } from './instance-set';
import { isServing, removeTree } from './instances';
import { appDirOf } from './layout';
import { removeState, type TAppState, type TInstanceRecord } from './state';
import { AppSupervisor } from './supervisor';

/**
 * Takes the live instances of `state` (the app's current release, started by an earlier control
 * plane) under supervision, and starts the missing ones up to `d.instances`. Null when nothing
 * of it is alive and something should run: the caller starts it afresh.
 */
export async function readopt(ctx: RolloutContext, d: RuntimeDeployment, state: TAppState): Promise<AppSupervisor | null> {
  const { healthPath, healthTimeoutMs } = settingsOf(ctx.healthTimeoutMs, d);
  const desired = d.instances ?? state.desired;
  // Started or being replaced by a supervisor that died before recording the outcome.
  for (const rec of state.others ?? []) await stopLive(ctx, d.appName, rec);
  const live: TInstanceRecord[] = [];
  for (const rec of state.instances) {
    if (await isServing(rec, healthPath)) live.push(rec);
    else await stopLive(ctx, d.appName, rec); // its cgroup and fence, if anything is left
  }
  if (live.length === 0 && desired > 0) return null;
  const sup = new AppSupervisor(ctx, d, desired);
  const { settings } = await ctx.sandbox;
  for (const rec of live.sort((a, b) => Number(a.id) - Number(b.id))) {
    if (Number(rec.id) >= desired) {
      await stopLive(ctx, d.appName, rec);
      continue;
    }
    const { memoryBytes, pids, diskBytes } = settings;
    const limits = { cgroups: rec.cgroups ?? [], appDir: appDirOf(ctx.layout, d.appName, d.deploymentId), memoryBytes, pids, diskBytes };
    const inst: LiveInstance = { ...rec, spawned: null, limits, hit: null, unwatch: () => {}, retiring: false };
    watchInstance(ctx, inst);
    sup.adopt(inst);
  }
  ctx.supervisors.get(d.appName)?.detach();
  ctx.supervisors.set(d.appName, sup);
  ctx.table.setCurrent(d.appName, d.deploymentId, sup.targets());
  for (let i = 0; i < desired; i++) {
    const id = String(i);
    if (sup.instances.has(id)) continue;
    // One that does not come up is retried with backoff by the supervisor.
    const err = await sup.startOrSchedule(id);
    if (err) ctx.log('runtime: could not start a missing instance', { appName: d.appName, instance: id, error: String(err), healthTimeoutMs });
  }
  await sup.publish();
  ctx.table.setCurrent(d.appName, d.deploymentId, sup.targets());
  if (desired === 0) {
    ctx.table.setState(d.appName, 'stopped');
    sup.health = 'stopped';
  }
  return sup;
}

/** Stops whatever of `state` runs and forgets it: processes, fences, tree, state file. */
export async function retireState(ctx: RolloutContext, appName: string, state: TAppState): Promise<void> {
  const sup = ctx.supervisors.get(appName);
  // What this process supervises, and what the state file names (another control plane's starts).
  const running: TInstanceRecord[] = sup ? sup.detach() : [];
  if (sup) ctx.supervisors.delete(appName);
  for (const rec of [...state.instances, ...(state.others ?? [])]) if (!running.some((r) => r.pid === rec.pid)) running.push(rec);
  for (const i of running) await stopLive(ctx, appName, i);
  await removeTree(ctx, appName, state.deploymentId);
  await removeState(ctx.layout, appName);
}
