import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { probe, isHealthyStatus } from './health';
import { appDirOf, type Layout } from './layout';
import { children, isSameProcess, procStat, stopGroup } from './process';
import type { TInstanceState } from './state';

/** What the driver's parts share: where things live and how it logs. */
export interface RuntimeContext {
  layout: Layout;
  log: (msg: string, fields?: object) => void;
}

/** Whether the recorded instance is still our process and answers HTTP. */
export async function isServing(state: TInstanceState): Promise<boolean> {
  return (await isSameProcess(state.pid, state.procStart)) && isHealthyStatus(await probe(state.port));
}

/**
 * Stops the process group led by `pid`. A pid now held by another process (reuse) is left
 * alone: Linux never hands out a number still in use as a group id, so our group is gone.
 */
export async function stopInstance(ctx: RuntimeContext, pid: number, procStart?: string | null): Promise<void> {
  const stat = await procStat(pid);
  if (stat && procStart && stat.start !== procStart) {
    ctx.log('runtime: pid reused, nothing to stop', { pid });
    return;
  }
  const outcome = await stopGroup(pid);
  if (outcome !== 'terminated') ctx.log(`runtime: process group ${outcome} after SIGTERM`, { pid });
  const child = children.get(pid);
  // Our own child: wait until Node has reaped it, so not even a zombie is left.
  if (child) await Promise.race([child.exited, sleep(2000)]);
}

/** Stops an instance and deletes its unpacked tree; its log file stays for `logs`. */
export async function retire(ctx: RuntimeContext, appName: string, state: TInstanceState): Promise<void> {
  await stopInstance(ctx, state.pid, state.procStart);
  await rm(appDirOf(ctx.layout, appName, state.deploymentId), { recursive: true, force: true });
}
