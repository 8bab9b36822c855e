import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

/** An inclusive range of host uids; each app gets one, used as its gid too. */
export interface UidRange {
  low: number;
  high: number;
}

export function parseUidRange(value: string): UidRange {
  const m = /^(\d+)-(\d+)$/.exec(value.trim());
  if (!m || Number(m[1]) > Number(m[2])) {
    throw new Error(`invalid uid range ${JSON.stringify(value)}: want <low>-<high>`);
  }
  return { low: Number(m[1]), high: Number(m[2]) };
}

const ZAllocations = z.record(z.string(), z.number().int());

const LOCK_WAIT_MS = 10_000;

/**
 * The app -> uid table, kept in `<stateDir>/_uids.json` so an app keeps its uid across deploys
 * and control-plane restarts (its files stay its own). Allocation runs under a lock file, as
 * a web process and a worker may both run rollouts.
 */
export function createUidAllocator(stateDir: string, range: UidRange) {
  // A leading '_' is never an app name, so no app's state file (`<app>.json`) can clash.
  const file = path.join(stateDir, '_uids.json');
  const lockFile = path.join(stateDir, '_uids.lock');
  let queue: Promise<unknown> = Promise.resolve();

  async function read(): Promise<Record<string, number>> {
    const raw = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '{}';
      throw err;
    });
    return ZAllocations.parse(JSON.parse(raw));
  }

  async function allocate(appName: string): Promise<number> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const release = await lock(lockFile);
    try {
      const table = await read();
      const existing = table[appName];
      if (existing !== undefined) return existing;
      const used = new Set(Object.values(table));
      let uid = range.low;
      while (used.has(uid)) uid++;
      if (uid > range.high) throw new Error(`no free uid left in ${range.low}-${range.high} for app ${appName}`);
      table[appName] = uid;
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(table, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
      return uid;
    } finally {
      await release();
    }
  }

  return {
    /** The app's uid, allocated on first use. */
    uidOf(appName: string): Promise<number> {
      const next = queue.then(() => allocate(appName));
      queue = next.catch(() => undefined);
      return next;
    },
  };
}

/** An exclusive lock file holding its owner's pid; a dead owner's lock is taken over. */
async function lock(lockFile: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(await readFile(lockFile, 'utf8').catch(() => ''));
    if (owner > 0 && !alive(owner)) await rm(lockFile, { force: true });
    else if (Date.now() > deadline) throw new Error(`uid lock ${lockFile} held by pid ${owner} for ${LOCK_WAIT_MS} ms`);
    else await sleep(20);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What on this host already uses ids of `range`, read from `<etc>/passwd`, `group`, `subuid` and
 * `subgid`: a user or group there (its files, its processes) would be an app's, and a subordinate
 * range is another user's containers (rootless podman or docker, whose defaults start at
 * 100000 as ours do): their root would be an app's uid. Empty when the range is free.
 */
export async function uidRangeClashes(range: UidRange, etc = '/etc'): Promise<string[]> {
  const read = (f: string) => readFile(path.join(etc, f), 'utf8').catch(() => '');
  const inRange = (low: number, high: number) => low <= range.high && high >= range.low;
  const clashes: string[] = [];
  for (const [file, what] of [['passwd', 'user'], ['group', 'group']] as const) {
    for (const line of (await read(file)).split('\n')) {
      const [name, , id] = line.split(':');
      if (!name || !/^\d+$/.test(id ?? '')) continue;
      if (inRange(Number(id), Number(id))) clashes.push(`${what} ${name} (${id})`);
    }
  }
  for (const file of ['subuid', 'subgid'] as const) {
    for (const line of (await read(file)).split('\n')) {
      const [name, start, count] = line.split(':');
      if (!name || !/^\d+$/.test(start ?? '') || !/^\d+$/.test(count ?? '') || Number(count) === 0) continue;
      const [low, high] = [Number(start), Number(start) + Number(count) - 1];
      if (inRange(low, high)) clashes.push(`${file} of ${name} (${low}-${high})`);
    }
  }
  return clashes;
}
