import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
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
  const child = children.get(pid);
  // Our own child: its exit event says when the leader is gone, before /proc scans do.
  const outcome = await stopGroup(pid, { leaderExited: child?.exited });
  if (outcome !== 'terminated') ctx.log(`runtime: process group ${outcome} after SIGTERM`, { pid });
  // Wait until Node has reaped it, so not even a zombie is left.
  if (child) await Promise.race([child.exited, sleep(2000)]);
}

/** Stops an instance and deletes its unpacked tree; its log file stays for `logs`. */
export async function retire(ctx: RuntimeContext, appName: string, state: TInstanceState): Promise<void> {
  await stopInstance(ctx, state.pid, state.procStart);
  await removeTree(ctx, appName, state.deploymentId);
}

/**
 * Deletes every unpacked tree of the app but `keep`'s: the replaced instance's, and any left by
 * a control plane that stopped mid-way (half extractions included). Only for a caller holding
 * the app's lock after `keep` became current; trouble is logged, not thrown.
 */
export async function removeTreesBut(ctx: RuntimeContext, appName: string, keep: string): Promise<void> {
  const names = await readdir(path.join(ctx.layout.appsDir, appName)).catch(() => [] as string[]);
  for (const name of names) if (name !== keep) await removeTree(ctx, appName, name);
}

/** Deletes a stopped instance's unpacked tree; trouble is logged, not thrown. */
export async function removeTree(ctx: RuntimeContext, appName: string, deploymentId: string): Promise<void> {
  await rm(appDirOf(ctx.layout, appName, deploymentId), { recursive: true, force: true }).catch((err: unknown) =>
    ctx.log('runtime: could not delete an old app tree', { appName, deploymentId, error: String(err) }),
  );
}
