import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createInstanceCgroup,
  detectCgroups,
  killCgroup,
  pruneEmptyGroups,
  readCounters,
  removeCgroup,
  type CgroupHost,
} from '../../server/runtime/local/sandbox/cgroups';

// Real cgroups (v1 here: memory, pids, cpu), under a parent of this test's own so that pruning
// never touches another suite's instance groups.
describe.runIf(process.getuid?.() === 0)('instance cgroups', () => {
  let host: CgroupHost;
  const limits = { memoryBytes: 64 * 1024 ** 2, pids: 16, cpu: 0.5 };
  beforeAll(async () => {
    const real = await detectCgroups();
    expect(real?.version).toBe(1);
    host = { version: real!.version, parents: real!.parents.map((p) => path.join(p, `test-${randomUUID()}`)) };
    for (const p of host.parents) await mkdir(p);
  });
  afterAll(async () => {
    for (const p of host.parents) await rmdir(p);
  });

  it('are made with the limits, counted, and removed with whatever still runs in them', async () => {
    const dirs = await createInstanceCgroup(host, 'app_dep-1', limits);
    const read = (i: number, f: string) => readFile(path.join(dirs[i]!, f), 'utf8');
    expect([await read(0, 'memory.limit_in_bytes'), await read(1, 'pids.max'), await read(2, 'cpu.cfs_quota_us')]).toEqual([
      `${64 * 1024 ** 2}\n`,
      '16\n',
      '50000\n',
    ]);
    // A process that left its parent's session is still in the group, and goes with it.
    const join = ['-c', 'for f; do echo $$ > "$f"; done; exec sleep 600', 'join', ...dirs.map((d) => path.join(d, 'cgroup.procs'))];
    const child = spawn('/bin/sh', join, { detached: true, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    await expect.poll(async () => (await read(1, 'cgroup.procs')).trim(), { timeout: 5000 }).toBe(String(child.pid));
    expect(await readCounters(dirs)).toEqual({ oomKills: 0, pidsMaxHits: 0 });
    expect(await pruneEmptyGroups(host, 0)).toEqual([]);
    expect(await removeCgroup(dirs)).toBeNull();
    expect(await exited).toBe('SIGKILL');
    for (const d of dirs) expect(existsSync(d)).toBe(false);
  });

  it('left empty are pruned once old enough, never while young', async () => {
    const dirs = await createInstanceCgroup(host, 'app_dep-2', limits);
    expect(dirs.map((d) => path.basename(d))).toEqual(['app_dep-2', 'app_dep-2', 'app_dep-2']);
    expect(await pruneEmptyGroups(host, 60_000)).toEqual([]);
    expect(await pruneEmptyGroups(host, 0)).toEqual(dirs);
    for (const d of dirs) expect(existsSync(d)).toBe(false);
  });

  it('count forks refused at pids.max', async () => {
    const dirs = await createInstanceCgroup(host, 'app_dep-3', { ...limits, pids: 3 });
    const procs = dirs.map((d) => path.join(d, 'cgroup.procs'));
    // A shell in the group starting 5 background sleeps: 2 fit beside it, the rest are refused.
    const script = 'for f; do echo $$ > "$f"; done; for i in 1 2 3 4 5; do sleep 30 & done 2>/dev/null; wait';
    spawn('/bin/sh', ['-c', script, 'bomb', ...procs], { stdio: 'ignore', detached: true });
    await expect.poll(async () => (await readCounters(dirs)).pidsMaxHits, { timeout: 5000 }).toBeGreaterThan(0);
    expect(await killCgroup(dirs)).toBe(true);
    expect(await removeCgroup(dirs)).toBeNull();
  });
});
