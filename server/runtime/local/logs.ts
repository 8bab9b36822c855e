import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const CHUNK = 64 * 1024;
// A "line" with no newline for this long is emitted anyway rather than held forever.
const MAX_LINE = 1024 * 1024;
const POLL_MS = 200;

/**
 * The last `n` lines of `file` (a trailing line without newline counts as one), read
 * backwards in chunks so a large log costs only what is asked. `offset` is where
 * following should resume: the end, or the start of that unterminated last line.
 */
export async function readTail(file: string, n: number): Promise<{ lines: string[]; offset: number; partial: string }> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!handle) return { lines: [], offset: 0, partial: '' };
  try {
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
  } finally {
    await handle.close();
  }
}

function countNewlines(buf: Buffer): number {
  let count = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) count++;
  return count;
}

/**
 * The last `tail` lines of `file`, then, with `follow`, each line appended later, until
 * `signal` aborts. Polls rather than fs.watch: the file may not exist yet, be on a network
 * disk or be rotated, and 200 ms is quick enough for a human reading logs.
 */
export async function* followLines(
  file: string,
  opts: { tail: number; follow: boolean; signal?: AbortSignal },
): AsyncGenerator<string> {
  const { lines, offset: tailEnd, partial } = await readTail(file, opts.tail);
  if (!opts.follow) {
    yield* lines;
    return;
  }
  // The unterminated last line is held back and re-read once its newline arrives.
  yield* partial ? lines.slice(0, -1) : lines;
  let offset = tailEnd;
  while (!opts.signal?.aborted) {
    const size = await stat(file).then((s) => s.size, () => 0);
    if (size < offset) offset = 0; // truncated or replaced: start over
    if (size > offset) {
      const { lines: fresh, consumed } = await readLines(file, offset, Math.min(size - offset, MAX_LINE));
      offset += consumed;
      yield* fresh;
      if (consumed > 0) continue;
    }
    await sleep(POLL_MS, undefined, { signal: opts.signal }).catch(() => {});
  }
}

/** Complete lines in [offset, offset+length); a line longer than MAX_LINE is cut. */
async function readLines(file: string, offset: number, length: number): Promise<{ lines: string[]; consumed: number }> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, offset);
    const data = buf.subarray(0, bytesRead);
    const end = data.lastIndexOf(10);
    if (end === -1) {
      return bytesRead >= MAX_LINE ? { lines: [data.toString('utf8')], consumed: bytesRead } : { lines: [], consumed: 0 };
    }
    return { lines: data.subarray(0, end).toString('utf8').split('\n'), consumed: end + 1 };
  } finally {
    await handle.close();
  }
}
