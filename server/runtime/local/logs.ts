import { open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogEntry, LogQuery } from '../port';
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

/**
 * A deployment's log as entries: the last `tail` (from the rotated `<file>.1` too when the
 * current file has fewer), newer than `sinceSecs` when given; then, with `follow`, each entry
 * appended later until `signal` aborts. Follows by polling an open handle rather than
 * fs.watch: the file may not exist yet or be rotated (the writer renames it to `.1`, and what
 * it wrote there before the switch is still read through the old handle).
 */
export async function* followEntries(file: string, q: LogQuery): AsyncGenerator<LogEntry> {
  const cutoff = q.sinceSecs === undefined ? null : new Date(Date.now() - q.sinceSecs * 1000).toISOString();
  // Records carry ISO times in UTC, which sort as strings; lines without a time pass.
  const keep = (e: LogEntry) => cutoff === null || e.time === null || e.time >= cutoff;
  let handle = await openIfExists(file);
  try {
    const tail = handle ? await tailOf(handle, q.tail) : { lines: [], offset: 0, partial: '' };
    let lines = tail.lines;
    // The unterminated last line is held back and re-read once its newline arrives.
    if (q.follow && tail.partial) lines = lines.slice(0, -1);
    if (lines.length < q.tail) {
      const older = await readTail(`${file}.1`, q.tail - lines.length);
      lines = [...older.lines, ...lines];
    }
    for (const l of lines) {
      const e = parseRecord(l);
      if (keep(e)) yield e;
    }
    if (!q.follow) return;
    let offset = tail.offset;
    while (!q.signal?.aborted) {
      if (handle) {
        const fresh = await readNew(handle, offset);
        offset += fresh.consumed;
        for (const l of fresh.lines) yield parseRecord(l);
        if (fresh.consumed > 0) continue;
      }
      // Caught up with this handle: has the file been rotated, truncated or created meanwhile?
      const current = await stat(file).catch(() => null);
      const mine = handle ? await handle.stat() : null;
      if (current && (!mine || current.ino !== mine.ino)) {
        await handle?.close();
        handle = await openIfExists(file);
        offset = 0;
        continue;
      }
      if (mine && mine.size < offset) offset = 0;
      await sleep(POLL_MS, undefined, { signal: q.signal }).catch(() => {});
    }
  } finally {
    await handle?.close();
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
 * starting, whose file may not exist yet) and then the most recently written others; deletes
 * the rest with their rotated part. Returns the deployment ids whose logs were deleted.
 */
export async function pruneAppLogs(dir: string, keep: number, protect: ReadonlySet<string>): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const logs = await Promise.all(
    names
      .filter((n) => n.endsWith('.log'))
      .map(async (n) => ({ id: n.slice(0, -'.log'.length), mtime: (await stat(path.join(dir, n)).catch(() => null))?.mtimeMs ?? 0 })),
  );
  logs.sort((a, b) => b.mtime - a.mtime);
  const doomed = logs
    .filter((l) => !protect.has(l.id))
    .slice(Math.max(0, keep - protect.size))
    .map((l) => l.id);
  for (const id of doomed) {
    await rm(path.join(dir, `${id}.log`), { force: true });
    await rm(path.join(dir, `${id}.log.1`), { force: true });
  }
  return doomed;
}
