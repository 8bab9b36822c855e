import { AppError } from '../../errors';
import type { RuntimeDeployment, RuntimeStatus } from '../port';
import { readopt } from './adopt';
import type { RolloutContext } from './context';
import { isServing } from './instances';
import { readState } from './state';
import type { AppSupervisor } from './supervisor';

/** The supervisor of `d`, the app's current release, re-adopting it if this process does not run it yet. */
async function supervisorOf(ctx: RolloutContext, d: RuntimeDeployment): Promise<AppSupervisor> {
  const running = ctx.supervisors.get(d.appName);
  if (running?.d.deploymentId === d.deploymentId && running.supervising) return running;
  const state = await readState(ctx.layout, d.appName);
  if (state?.deploymentId !== d.deploymentId) {
    throw new AppError('conflict', `deployment ${d.deploymentId} is not the current release of ${d.appName} on this runtime`);
  }
  const sup = await readopt(ctx, { ...d, instances: state.desired }, state);
  if (!sup) throw new AppError('conflict', `nothing of ${d.appName} runs: deploy or roll back first`);
  return sup;
}

/** Runs `d.instances` instances: new ones join once healthy; extra ones (highest ids first) drain and stop. */
export async function scaleApp(ctx: RolloutContext, d: RuntimeDeployment): Promise<RuntimeStatus> {
  const sup = await supervisorOf(ctx, d);
  const target = d.instances ?? 1;
  sup.desired = target;
  for (const id of sup.pendingIds()) if (Number(id) >= target) sup.cancelRestart(id);
  const extra = [...sup.instances.values()].filter((i) => Number(i.id) >= target).sort((a, b) => Number(b.id) - Number(a.id));
  for (const inst of extra) await sup.retire(inst, ctx.drainMs);
  // One that does not come up is retried by the supervisor; the scale still says it failed.
  let failure: unknown = null;
  for (let i = 0; i < target; i++) {
    const id = String(i);
    if (sup.instances.has(id) || sup.pendingIds().includes(id)) continue;
    const err = await sup.startOrSchedule(id);
    failure ??= err;
    if (!err) await sup.publish();
  }
  await sup.publish();
  if (target === 0) {
    ctx.table.setState(d.appName, 'stopped');
    sup.health = 'stopped';
    ctx.onHealth({ appName: d.appName, deploymentId: d.deploymentId, health: 'stopped', message: 'scaled to 0: nothing runs' });
  } else if (sup.health === 'stopped' || sup.health === 'healthy') {
    ctx.table.setState(d.appName, 'serving');
    sup.health = 'healthy';
    ctx.onHealth({ appName: d.appName, deploymentId: d.deploymentId, health: 'healthy', message: `scaled to ${target}: all ready` });
  }
  if (failure) throw failure;
  return sup.status();
}

/** Replaces each instance in turn: the new one healthy and routed before the old one drains. */
export async function restartApp(ctx: RolloutContext, d: RuntimeDeployment): Promise<RuntimeStatus> {
  const sup = await supervisorOf(ctx, d);
  const olds = [...sup.instances.values()].sort((a, b) => Number(a.id) - Number(b.id));
  for (const old of olds) {
    // Crashed meanwhile (another exit): its restart is already scheduled.
    if (sup.instances.get(old.id) !== old) continue;
    await sup.replace(old, ctx.drainMs);
  }
  return sup.status();
}

/** Health and instances now: from this process's supervision, else from the state file. */
export async function statusOf(ctx: RolloutContext, target: { appName: string; deploymentId: string }): Promise<RuntimeStatus> {
  const sup = ctx.supervisors.get(target.appName);
  if (sup?.d.deploymentId === target.deploymentId && sup.supervising) return sup.status();
  const state = await readState(ctx.layout, target.appName);
  if (state?.deploymentId !== target.deploymentId) return { health: 'stopped', instances: [] };
  const instances = await Promise.all(state.instances.map(async (i) => ({ id: i.id, ready: await isServing(i), restarts: 0 })));
  const ready = instances.filter((i) => i.ready).length;
  const health = state.desired === 0 ? 'stopped' : ready === 0 ? 'restarting' : ready < state.desired ? 'degraded' : 'healthy';
  return { health, instances };
}
