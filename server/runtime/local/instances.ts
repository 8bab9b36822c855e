import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { probe, isHealthyStatus } from './health';
import { appDirOf, type Layout } from './layout';
import { children, isSameProcess, procStat, stopGroup } from './process';
import { removeCgroup } from './sandbox/cgroups';
import type { Sandbox } from './sandbox/sandbox';
import type { TInstanceRecord } from './state';

const run = promisify(execFile);
const RM_ENV = { PATH: '/usr/bin:/bin' } as unknown as NodeJS.ProcessEnv;

/** What the driver's parts share: where things live, how it logs, how apps are isolated. */
export interface RuntimeContext {
  layout: Layout;
  log: (msg: string, fields?: object) => void;
  sandbox: Promise<Sandbox>;
  /** How often a running instance's limits (cgroup counters, disk use) are checked. */
  watchIntervalMs: number;
}

/** Whether the recorded instance is still our process and answers its health check. */
export async function isServing(state: TInstanceRecord, healthPath = '/'): Promise<boolean> {
  return (await isSameProcess(state.pid, state.procStart)) && isHealthyStatus(await probe(state.port, 2000, healthPath));
}

/**
 * Stops the process group led by `pid`. A pid now held by another process (reuse) is left
 * alone: Linux never hands out a number still in use as a group id, so our group is gone.
 */
export async function stopInstance(ctx: RuntimeContext, pid: number, procStart?: string | null, cgroups: string[] = []): Promise<void> {
  const stat = await procStat(pid);
  if (stat && procStart && stat.start !== procStart) {
    ctx.log('runtime: pid reused, nothing to stop', { pid });
    await dropCgroup(ctx, cgroups);
    return;
  }
  const child = children.get(pid);
  // Our own child: its exit event says when the leader is gone, before /proc scans do.
  const outcome = await stopGroup(pid, { leaderExited: child?.exited });
  if (outcome !== 'terminated') ctx.log(`runtime: process group ${outcome} after SIGTERM`, { pid });
  // Wait until Node has reaped it, so not even a zombie is left.
  if (child) await Promise.race([child.exited, sleep(2000)]);
  // Whatever left the process group (setsid) is still in the cgroup: killed with it.
  await dropCgroup(ctx, cgroups);
}

/** Kills what is left in an instance's cgroups and removes them; trouble is logged. */
export async function dropCgroup(ctx: RuntimeContext, cgroups: string[]): Promise<void> {
  if (cgroups.length === 0) return;
  const trouble = await removeCgroup(cgroups);
  if (trouble) ctx.log('runtime: could not remove an instance cgroup', { trouble });
}

/** Opens (or closes) the network fence for the app to its instance's own port; trouble is logged. */
export async function fenceOwnPort(ctx: RuntimeContext, appName: string, port: number, open: boolean): Promise<void> {
  try {
    await (await ctx.sandbox).ownPort(appName, port, open);
  } catch (err) {
    ctx.log(`runtime: could not ${open ? 'open' : 'close'} the network fence to an instance's own port`, { appName, port, error: String(err) });
  }
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
  await rmTree(appDirOf(ctx.layout, appName, deploymentId)).catch((err: unknown) =>
    ctx.log('runtime: could not delete an old app tree', { appName, deploymentId, error: String(err) }),
  );
}

/**
 * Deletes `dir` and everything under it, as `rm -rf`. fs.rm walks by whole paths, which an
 * app's tree nested beyond PATH_MAX defeats (ENAMETOOLONG: the tree, and the disk it holds,
 * would outlive the app); coreutils' rm walks by directory fds, so it is the fallback.
 */
export async function rmTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    await run('rm', ['-rf', '--', dir], { env: RM_ENV }).catch(() => {
      throw err;
    });
  }
}
