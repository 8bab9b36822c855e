import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from './redis';

/**
 * Looks for a value where it must not be: in bytes, files, Redis keys and other processes'
 * environments. Each search reports how much it looked at, so a test can prove it was not
 * vacuous (an empty directory or prefix finds nothing).
 */

export interface Needle {
  label: string;
  bytes: Buffer;
}

/**
 * The value as raw bytes and as base64 (and base64url) at each of the three alignments it can
 * take inside a longer encoded buffer, edge characters (mixed with neighbouring bytes) cut off.
 */
export function needlesOf(value: string): Needle[] {
  const raw = Buffer.from(value, 'utf8');
  const out: Needle[] = [{ label: 'raw', bytes: raw }];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), raw]).toString('base64').replace(/=+$/, '');
    const core = b64.slice(shift === 0 ? 0 : 4, -4);
    out.push({ label: `base64@${shift}`, bytes: Buffer.from(core) });
    const url = core.replaceAll('+', '-').replaceAll('/', '_');
    if (url !== core) out.push({ label: `base64url@${shift}`, bytes: Buffer.from(url) });
  }
  return out;
}

/** Labels of the needles found in `haystack`. */
export function findNeedles(haystack: Buffer | string, needles: Needle[]): string[] {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : haystack;
  return needles.filter((n) => buf.includes(n.bytes)).map((n) => n.label);
}

export interface FileScan {
  /** `<file>: <labels>` for every file holding a needle. */
  hits: string[];
  files: number;
  bytes: number;
}

/**
 * Every regular file below `dir` (recursively), or only those modified at or after `since`;
 * files over `maxBytes` are skipped (a shared temp dir holds other tests' large artifacts).
 */
export async function scanFiles(dir: string, needles: Needle[], opts: { since?: Date; maxBytes?: number } = {}): Promise<FileScan> {
  const scan: FileScan = { hits: [], files: 0, bytes: 0 };
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && opts.since) return []; // a shared dir whose subtree vanished meanwhile
    throw err;
  });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    const info = opts.since || opts.maxBytes ? await stat(file).catch(() => null) : null;
    if ((opts.since || opts.maxBytes) && !info) continue;
    if (opts.since && info!.mtime < opts.since) continue;
    if (opts.maxBytes && info!.size > opts.maxBytes) continue;
    const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null; // removed while we looked (a WAL segment recycled)
      throw err;
    });
    if (!bytes) continue;
    scan.files++;
    scan.bytes += bytes.length;
    const found = findNeedles(bytes, needles);
    if (found.length) scan.hits.push(`${path.relative(dir, file)}: ${found.join(', ')}`);
  }
  return scan;
}

export interface RedisScan {
  hits: string[];
  keys: number;
  /** Job hashes (with a `data` field) read. */
  jobs: number;
}

/** Every key under a BullMQ prefix, read whole whatever its type (job hashes, lists, sets, streams). */
export async function scanRedisPrefix(prefix: string, needles: Needle[]): Promise<RedisScan> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  const scan: RedisScan = { hits: [], keys: 0, jobs: 0 };
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const parts = await readKey(redis, key);
        if (!parts) continue;
        scan.keys++;
        if (parts.isJob) scan.jobs++;
        const found = findNeedles(Buffer.concat(parts.values), needles);
        if (found.length) scan.hits.push(`${key}: ${found.join(', ')}`);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return scan;
}

async function readKey(redis: Redis, key: string): Promise<{ values: Buffer[]; isJob: boolean } | null> {
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return { values: [(await redis.getBuffer(key)) ?? Buffer.alloc(0)], isJob: false };
    case 'hash': {
      const h = await redis.hgetallBuffer(key);
      return { values: Object.entries(h).flatMap(([k, v]) => [Buffer.from(k), v]), isJob: 'data' in h };
    }
    case 'list':
      return { values: await redis.lrangeBuffer(key, 0, -1), isJob: false };
    case 'set':
      return { values: await redis.smembersBuffer(key), isJob: false };
    case 'zset':
      return { values: await redis.zrangeBuffer(key, '0', '-1'), isJob: false };
    case 'stream': {
      const entries = (await redis.xrangeBuffer(key, '-', '+')) as Array<[Buffer, Buffer[]]>;
      return { values: entries.flatMap(([id, fields]) => [id, ...fields]), isJob: false };
    }
    case 'none':
      return null; // expired or removed while scanning
    default:
      throw new Error(`key ${key} has type ${type}, which this scan cannot read`);
  }
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  uid: number;
}

async function procInfo(pid: number): Promise<ProcInfo | null> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null);
  if (!status) return null;
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? -1);
  return { pid, ppid: field('PPid'), uid: field('Uid') };
}

/**
 * Every process on this host whose environment (`/proc/<pid>/environ`) or command line holds a
 * needle, with its parent and real uid. Processes that exit meanwhile are skipped.
 */
export async function processesHolding(needles: Needle[]): Promise<{ environ: ProcInfo[]; cmdline: ProcInfo[]; scanned: number }> {
  const out = { environ: [] as ProcInfo[], cmdline: [] as ProcInfo[], scanned: 0 };
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const [environ, cmdline] = await Promise.all([readFile(`/proc/${pid}/environ`).catch(() => null), readFile(`/proc/${pid}/cmdline`).catch(() => null)]);
    if (environ === null && cmdline === null) continue;
    out.scanned++;
    const info = async () => (await procInfo(pid)) ?? { pid, ppid: -1, uid: -1 };
    if (environ && findNeedles(environ, needles).length) out.environ.push(await info());
    if (cmdline && findNeedles(cmdline, needles).length) out.cmdline.push(await info());
  }
  return out;
}

/** Whether `pid` is `ancestor` or one of its descendants. */
export async function descendsFrom(pid: number, ancestor: number): Promise<boolean> {
  for (let p: number | undefined = pid, hops = 0; p && p > 0 && hops < 64; hops++) {
    if (p === ancestor) return true;
    p = (await procInfo(p))?.ppid;
  }
  return false;
}
