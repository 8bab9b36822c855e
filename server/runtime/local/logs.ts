import { existsSync } from 'node:fs';
import { open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogEntry, LogQuery } from '../port';
import { appLogsDirOf, legacyLogFileOf, logFileOf, parseLogFileName, type Layout } from './layout';
import { LOG_RECORD_RE } from './log-writer';

const CHUNK = 64 * 1024;
// A "line" with no newline for this long is emitted anyway rather than held forever.
const MAX_LINE = 1024 * 1024;
const POLL_MS = 200;

/** A log record as an entry; a line in another shape (a log from before timestamps) has no time. */
export function parseRecord(text: string): LogEntry {
  const m = LOG_RECORD_RE.exec(text);
  if (!m) return { time: null, source: 'app', line: text };
  return { time: m[1]!, source: m[2] === 'e' ? 'app:stderr' : 'app', line: m[3]! };
}

/**
 * The last `n` lines of `file` (a trailing line without newline counts as one), read
 * backwards in chunks so a large log costs only what is asked. `offset` is where
 * following should resume: the end, or the start of that unterminated last line.
 */
export async function readTail(file: string, n: number): Promise<{ lines: string[]; offset: number; partial: string }> {
  const handle = await openIfExists(file);
  if (!handle) return { lines: [], offset: 0, partial: '' };
  try {
    return await tailOf(handle, n);
  } finally {
    await handle.close();
  }
}

async function tailOf(handle: FileHandle, n: number): Promise<{ lines: string[]; offset: number; partial: string }> {
  const { size } = await handle.stat();
  let start = size;
  let text = Buffer.alloc(0);
  // n newlines bound n-1 complete lines plus the last one; one more gives a clean start.
  while (start > 0 && countNewlines(text) <= n) {
    const from = Math.max(0, start - CHUNK);
    const buf = Buffer.alloc(start - from);
    await handle.read(buf, 0, buf.length, from);
    text = Buffer.concat([buf, text]);
    start = from;
  }
  const all = text.toString('utf8').split('\n');
  const partial = all.pop() ?? '';
  if (start > 0) all.shift(); // may be cut in the middle
  const offset = size - Buffer.byteLength(partial);
  const lines = partial ? [...all, partial] : all;
  return { lines: n > 0 ? lines.slice(-n) : [], offset, partial };
}

/** The last `n` lines of a deployment's output as text, for a failed rollout's report. */
export async function outputTail(file: string, n: number): Promise<string[]> {
  const { lines } = await readTail(file, n);
  return lines.map((l) => parseRecord(l).line);
}

function countNewlines(buf: Buffer): number {
  let count = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) count++;
  return count;
}

const openIfExists = (file: string) =>
  open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });

/** One instance's log file. `file` may not exist yet: an instance that has not written. */
export interface InstanceLog {
  instance: string;
  file: string;
}

/** The log of one instance of a deployment (file, rotated part, legacy location) as entries. */
export function followEntries(file: string, q: LogQuery, instance = '0'): AsyncGenerator<LogEntry> {
  return followInstances(async () => [{ instance, file }], q);
}

/**
 * The log files of a deployment's instances now, by instance number: each `<id>[.<n>].log`
 * (or only its rotated part) in the app's directory, and for a deployment from before
 * per-app directories its legacy file as instance '0'. With `instance`, only that one.
 */
export async function instanceLogsOf(layout: Layout, appName: string, deploymentId: string, instance?: string): Promise<InstanceLog[]> {
  const names = await readdir(appLogsDirOf(layout, appName)).catch(() => [] as string[]);
  const instances = new Set<string>();
  for (const name of names) {
    const parsed = parseLogFileName(name);
    if (parsed?.deploymentId === deploymentId) instances.add(parsed.instance);
  }
  const logs = [...instances].sort((a, b) => Number(a) - Number(b)).map((i) => ({ instance: i, file: logFileOf(layout, appName, deploymentId, i) }));
  if (!instances.has('0') && existsSync(legacyLogFileOf(layout, deploymentId))) logs.unshift({ instance: '0', file: legacyLogFileOf(layout, deploymentId) });
  return instance === undefined ? logs : logs.filter((l) => l.instance === instance);
}

/**
 * A deployment's log across its instances, each entry with its `instance`: the last `tail`
 * entries of all of them merged by time (ties keep instance order, then file order), newer
 * than `sinceSecs` when given; then, with `follow`, what any instance appends, also instances
 * whose file appears later (a scale-up, a restart), until `signal` aborts. An instance with no
 * file (never started, unknown) has no entries: `q.instance` naming one yields nothing and,
 * following, waits for it, as for a deployment still starting.
 */
export function deploymentLogs(layout: Layout, target: { appName: string; deploymentId: string }, q: LogQuery): AsyncGenerator<LogEntry> {
  return followInstances(() => instanceLogsOf(layout, target.appName, target.deploymentId, q.instance), q);
}

/**
 * Reads and follows the files `list` returns (asked again whenever every known file is caught
 * up, so new ones are picked up). Follows by polling open handles rather than fs.watch: a file
 * may not exist yet or be rotated (the writer renames it to `.1`, and what it wrote there
 * before the switch is still read through the old handle).
 */
async function* followInstances(list: () => Promise<InstanceLog[]>, q: LogQuery): AsyncGenerator<LogEntry> {
  const cutoff = q.sinceSecs === undefined ? null : new Date(Date.now() - q.sinceSecs * 1000).toISOString();
  // Records carry ISO times in UTC, which sort as strings; lines without a time pass.
  const keep = (e: LogEntry) => cutoff === null || e.time === null || e.time >= cutoff;
  const followers = new Map<string, Follower>();
  try {
    const history: LogEntry[][] = [];
    for (const log of await list()) {
      const { follower, lines } = await Follower.open(log, q.tail, q.follow);
      followers.set(log.file, follower);
      history.push(lines.map((l) => ({ ...parseRecord(l), instance: log.instance })));
    }
    const merged = mergeByTime(history).filter(keep);
    for (const e of q.tail > 0 ? merged.slice(-q.tail) : []) yield e;
    if (!q.follow) return;
    while (!q.signal?.aborted) {
      const fresh: LogEntry[][] = [];
      for (const f of followers.values()) fresh.push((await f.readNew()).map((l) => ({ ...parseRecord(l), instance: f.log.instance })));
      if (fresh.some((lines) => lines.length > 0)) {
        for (const e of mergeByTime(fresh)) yield e;
        continue;
      }
      // All caught up: files rotated, truncated or created meanwhile, and new instances.
      for (const f of followers.values()) await f.reopenIfReplaced();
      for (const log of await list()) {
        // Written entirely after the history was read: read from its start.
        if (!followers.has(log.file)) followers.set(log.file, await Follower.fromStart(log));
      }
      await sleep(POLL_MS, undefined, { signal: q.signal }).catch(() => {});
    }
  } finally {
    for (const f of followers.values()) await f.close();
  }
}

/**
 * Entries of several files in time order. A line without a time sorts with the last timed
 * line before it in its file, so a file's own order is always kept; ties keep file order.
 */
export function mergeByTime(perFile: LogEntry[][]): LogEntry[] {
  if (perFile.length === 1) return perFile[0]!;
  const keyed = perFile.flatMap((entries, file) => {
    let key = '';
    return entries.map((e, i) => {
      key = e.time ?? key;
      return { e, key, file, i };
    });
  });
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.file - b.file || a.i - b.i));
  return keyed.map((k) => k.e);
}

/** Where reading one instance's file has got to. */
class Follower {
  private constructor(
    readonly log: InstanceLog,
    private handle: FileHandle | null,
    private offset: number,
  ) {}

  /** Its last `tail` lines (from the rotated part too when the file has fewer), then following from there. */
  static async open(log: InstanceLog, tail: number, follow: boolean): Promise<{ follower: Follower; lines: string[] }> {
    const handle = await openIfExists(log.file);
    try {
      const last = handle ? await tailOf(handle, tail) : { lines: [], offset: 0, partial: '' };
      let lines = last.lines;
      // The unterminated last line is held back and re-read once its newline arrives.
      if (follow && last.partial) lines = lines.slice(0, -1);
      if (lines.length < tail) {
        const older = await readTail(`${log.file}.1`, tail - lines.length);
        lines = [...older.lines, ...lines];
      }
      return { follower: new Follower(log, handle, last.offset), lines };
    } catch (err) {
      await handle?.close();
      throw err;
    }
  }

  static async fromStart(log: InstanceLog): Promise<Follower> {
    return new Follower(log, await openIfExists(log.file), 0);
  }

  async readNew(): Promise<string[]> {
    if (!this.handle) return [];
    const fresh = await readNew(this.handle, this.offset);
    this.offset += fresh.consumed;
    return fresh.lines;
  }

  /** Called once caught up with this handle: switches to the file now at the path if it changed. */
  async reopenIfReplaced(): Promise<void> {
    const current = await stat(this.log.file).catch(() => null);
    const mine = this.handle ? await this.handle.stat() : null;
    if (current && (!mine || current.ino !== mine.ino)) {
      await this.handle?.close();
      this.handle = await openIfExists(this.log.file);
      this.offset = 0;
    } else if (mine && mine.size < this.offset) this.offset = 0;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}

/** Complete lines from `offset` on (at most MAX_LINE bytes per call); a longer line is cut. */
async function readNew(handle: FileHandle, offset: number): Promise<{ lines: string[]; consumed: number }> {
  const { size } = await handle.stat();
  if (size <= offset) return { lines: [], consumed: 0 };
  const buf = Buffer.alloc(Math.min(size - offset, MAX_LINE));
  const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
  const data = buf.subarray(0, bytesRead);
  const end = data.lastIndexOf(10);
  if (end === -1) {
    return bytesRead >= MAX_LINE ? { lines: [data.toString('utf8')], consumed: bytesRead } : { lines: [], consumed: 0 };
  }
  return { lines: data.subarray(0, end).toString('utf8').split('\n'), consumed: end + 1 };
}

/**
 * Keeps the logs of `keep` deployments of an app: those in `protect` (the running one, the one
 * starting, whose files may not exist yet) and then the most recently written others; deletes
 * the rest. A deployment is one unit however many instances it ran: its files (every
 * instance's, rotated parts too) count once, as recent as the newest of them, and go together.
 * Returns the deployment ids whose logs were deleted.
 */
export async function pruneAppLogs(dir: string, keep: number, protect: ReadonlySet<string>): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const byDeployment = new Map<string, { files: string[]; mtime: number }>();
  await Promise.all(
    names.map(async (name) => {
      const parsed = parseLogFileName(name);
      if (!parsed) return;
      const mtime = (await stat(path.join(dir, name)).catch(() => null))?.mtimeMs ?? 0;
      const unit = byDeployment.get(parsed.deploymentId) ?? { files: [], mtime: 0 };
      unit.files.push(name);
      unit.mtime = Math.max(unit.mtime, mtime);
      byDeployment.set(parsed.deploymentId, unit);
    }),
  );
  const doomed = [...byDeployment.entries()]
    .filter(([id]) => !protect.has(id))
    .sort(([, a], [, b]) => b.mtime - a.mtime)
    .slice(Math.max(0, keep - protect.size));
  for (const [, unit] of doomed) {
    for (const name of unit.files) await rm(path.join(dir, name), { force: true });
  }
  return doomed.map(([id]) => id);
}
