import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  /** Cores: 0.5 is half of one core's time. */
  cpu: number;
}

/** Where instance groups are made: one parent dir per hierarchy (v1: memory, pids, cpu; v2: one). */
export interface CgroupHost {
  version: 1 | 2;
  parents: string[];
}

const ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

/** Our own group in each hierarchy, from /proc/self/cgroup (`id:controllers:path`). */
function ownPaths(): Map<string, string> {
  const paths = new Map<string, string>();
  const raw = existsSync('/proc/self/cgroup') ? readFileSync('/proc/self/cgroup', 'utf8') : '';
  for (const line of raw.split('\n')) {
    const [, controllers, p] = line.split(':');
    if (p === undefined) continue;
    for (const c of controllers!.split(',')) paths.set(c, p);
  }
  return paths;
}

/**
 * The cgroup hierarchy apps' groups go under: `aether-apps` inside the control plane's own
 * group, so whatever bounds the control plane also bounds its apps. Null where there is none
 * we could write to (not root, no delegation): limits then rest on rlimits alone.
 */
export async function detectCgroups(): Promise<CgroupHost | null> {
  const own = ownPaths();
  const v1 = V1_CONTROLLERS.map((c) => path.join(ROOT, c));
  if (v1.every((dir) => existsSync(path.join(dir, 'cgroup.procs')))) {
    const parents = V1_CONTROLLERS.map((c, i) => path.join(v1[i]!, own.get(c) ?? '/', 'aether-apps'));
    return (await makeParents(parents)) ? { version: 1, parents } : null;
  }
  if (existsSync(path.join(ROOT, 'cgroup.controllers'))) {
    // v2 forbids processes in a group that hands controllers down: ours has the control plane,
    // so the apps' parent is a sibling of it.
    const parent = path.join(ROOT, path.dirname(own.get('') ?? '/'), 'aether-apps');
    if (!(await makeParents([parent]))) return null;
    await writeFile(path.join(path.dirname(parent), 'cgroup.subtree_control'), '+memory +pids +cpu').catch(() => undefined);
    await writeFile(path.join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu').catch(() => undefined);
    return { version: 2, parents: [parent] };
  }
  return null;
}

async function makeParents(dirs: string[]): Promise<boolean> {
  try {
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    return true;
  } catch {
    return false;
  }
}

/** One app instance's groups: the dirs (one per v1 hierarchy), in the state file for adoption. */
export async function createInstanceCgroup(host: CgroupHost, name: string, limits: CgroupLimits): Promise<string[]> {
  const dirs = host.parents.map((p) => path.join(p, name));
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  const cpuPeriod = 100_000;
  const cpuQuota = Math.max(1000, Math.round(limits.cpu * cpuPeriod));
  const settings: Array<[string, string]> =
    host.version === 1
      ? [
          ['memory.limit_in_bytes', String(limits.memoryBytes)],
          // No swap beyond the limit (the file exists only with swap accounting on).
          ['memory.memsw.limit_in_bytes', String(limits.memoryBytes)],
          ['pids.max', String(limits.pids)],
          ['cpu.cfs_period_us', String(cpuPeriod)],
          ['cpu.cfs_quota_us', String(cpuQuota)],
        ]
      : [
          ['memory.max', String(limits.memoryBytes)],
          ['memory.swap.max', '0'],
          ['pids.max', String(limits.pids)],
          ['cpu.max', `${cpuQuota} ${cpuPeriod}`],
        ];
  for (const [file, value] of settings) {
    const dir = dirs.find((d) => existsSync(path.join(d, file)));
    if (dir) await writeFile(path.join(dir, file), value);
    else if (!file.includes('swap')) throw new Error(`cgroup control ${file} missing under ${dirs.join(', ')}`);
  }
  return dirs;
}

/** The files a process writes its pid to, to join every group of the instance. */
export const procsFilesOf = (dirs: string[]) => dirs.map((d) => path.join(d, 'cgroup.procs'));

export interface CgroupCounters {
  /** Processes the kernel OOM-killed in the group. */
  oomKills: number;
  /** Forks refused by pids.max. */
  pidsMaxHits: number;
}

/** Reads a flat-keyed file (`key value` lines); 0 for missing keys or files. */
async function keyed(file: string, key: string): Promise<number> {
  const raw = await readFile(file, 'utf8').catch(() => '');
  const line = raw.split('\n').find((l) => l.startsWith(`${key} `));
  return line ? Number(line.slice(key.length + 1)) || 0 : 0;
}

export async function readCounters(dirs: string[]): Promise<CgroupCounters> {
  let oomKills = 0;
  let pidsMaxHits = 0;
  for (const dir of dirs) {
    oomKills += await keyed(path.join(dir, 'memory.oom_control'), 'oom_kill'); // v1
    oomKills += await keyed(path.join(dir, 'memory.events'), 'oom_kill'); // v2
    pidsMaxHits += await keyed(path.join(dir, 'pids.events'), 'max');
  }
  return { oomKills, pidsMaxHits };
}

async function members(dirs: string[]): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of dirs) {
    const raw = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const p of raw.split('\n')) if (p) pids.add(Number(p));
  }
  return [...pids];
}

/**
 * SIGKILLs every process in the instance's groups, also those that left its process group
 * (setsid), until none is left. A fork bomb cannot outrun it: pids.max caps what it makes.
 */
export async function killCgroup(dirs: string[], timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await members(dirs);
    if (pids.length === 0) return true;
    if (Date.now() > deadline) return false;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await sleep(10);
  }
}

/**
 * Removes instance groups left empty behind the runtime's back (apps killed directly, data dirs
 * deleted, a crash between stop and cleanup). Only those older than `minAgeMs`: a group is empty
 * for a moment between its creation and its app joining it. rmdir refuses a group in use.
 */
export async function pruneEmptyGroups(host: CgroupHost, minAgeMs = 60_000): Promise<string[]> {
  const removed: string[] = [];
  for (const parent of host.parents) {
    for (const name of await readdir(parent).catch(() => [] as string[])) {
      const dir = path.join(parent, name);
      const st = await stat(dir).catch(() => null);
      if (!st?.isDirectory() || Date.now() - st.ctimeMs < minAgeMs) continue;
      if ((await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => 'x')) !== '') continue;
      if (await rmdir(dir).then(() => true, () => false)) removed.push(dir);
    }
  }
  return removed;
}

/** Kills what is left and removes the groups; trouble is returned, not thrown. */
export async function removeCgroup(dirs: string[]): Promise<string | null> {
  if (!(await killCgroup(dirs))) return `processes left in ${dirs.join(', ')}`;
  for (const dir of dirs) {
    // An exiting process can hold the group busy for a moment after it left cgroup.procs.
    for (let i = 0; ; i++) {
      const err = await rmdir(dir).then(() => null, (e: NodeJS.ErrnoException) => e);
      if (!err || err.code === 'ENOENT') break;
      if (err.code !== 'EBUSY' || i >= 50) return `could not remove ${dir}: ${err.code}`;
      await sleep(20);
    }
  }
  return null;
}
