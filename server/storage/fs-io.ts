import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { AppError } from '../errors';

/** File plumbing shared by the fs driver's whole-object and multipart paths. */

/** Suffix of every file still being written; never an object, never a part. */
export const TEMP_SUFFIX = '.partial';

/**
 * Body chunks; a body that breaks off (client gone) is the client's fault, not a 500. Read off
 * the web stream's own reader: wrapping it in a Node stream first added ~100 ms to a 64 MiB PUT here.
 */
export async function* readBody(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (body === null) return;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } catch {
    throw new AppError('bad_request', 'upload body ended early');
  } finally {
    reader.releaseLock();
  }
}

/** Writes every chunk, in order, in as few writev calls as the kernel allows. */
async function writeAllv(fh: FileHandle, chunks: Uint8Array[], position?: number): Promise<void> {
  let pending = chunks.filter((c) => c.byteLength > 0);
  let written = 0;
  while (pending.length > 0) {
    // writev may write less than asked; go on from the first byte not written.
    const { bytesWritten } = await fh.writev(pending, position === undefined ? undefined : position + written);
    written += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const chunk of pending) {
      if (skip >= chunk.byteLength) skip -= chunk.byteLength;
      else {
        rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
        skip = 0;
      }
    }
    pending = rest;
  }
}

/**
 * Writes chunks to `fh` from `position` (or from its current position), hashing them when given
 * an algorithm. One write is in flight while the next chunks arrive and are hashed, so the disk
 * and the network overlap. Past `maxBytes` it stops with `tooLong()`.
 */
export async function writeChunks(
  fh: FileHandle,
  chunks: AsyncIterable<Uint8Array>,
  opts: { maxBytes: number; algorithm?: 'sha256' | 'md5'; position?: number; tooLong: () => AppError },
): Promise<{ sizeBytes: number; digest: string | null }> {
  const hash = opts.algorithm ? createHash(opts.algorithm) : null;
  let sizeBytes = 0;
  let writing: Promise<void> = Promise.resolve();
  try {
    for await (const batch of batches(chunks)) {
      const at = sizeBytes;
      for (const chunk of batch) {
        sizeBytes += chunk.byteLength;
        if (sizeBytes > opts.maxBytes) throw opts.tooLong();
        hash?.update(chunk);
      }
      await writing;
      writing = writeAllv(fh, batch, opts.position === undefined ? undefined : opts.position + at);
      // Awaited before the next write or on the way out; until then a failure must not count as unhandled.
      writing.catch(() => undefined);
    }
  } finally {
    await writing.catch(() => undefined);
  }
  await writing;
  return { sizeBytes, digest: hash?.digest('hex') ?? null };
}

/**
 * Streams chunks into a new file `temp` (which must not exist), hashing as it goes, and
 * fsyncs it. Stops with payload_too_large past `maxBytes`. On any failure the temp file is
 * removed, so the caller only ever renames a complete file into place.
 */
export async function writeTemp(
  temp: string,
  chunks: AsyncIterable<Uint8Array>,
  opts: { maxBytes: number; algorithm: 'sha256' | 'md5' },
): Promise<{ sizeBytes: number; digest: string }> {
  const fh = await open(temp, 'wx');
  try {
    const { sizeBytes, digest } = await writeChunks(fh, chunks, { ...opts, tooLong: () => tooLarge(opts.maxBytes) });
    await fh.sync();
    await fh.close();
    return { sizeBytes, digest: digest! };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}

/** Writes `data` (synced) to a new temp file beside `path` and returns its name; on failure nothing stays. */
export async function writeTempBeside(path: string, data: string): Promise<string> {
  const temp = `${path}.${randomUUID()}${TEMP_SUFFIX}`;
  try {
    const fh = await open(temp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return temp;
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temp = await writeTempBeside(path, data);
  await rename(temp, path).catch(async (err: unknown) => {
    await rm(temp, { force: true });
    throw err;
  });
}

export async function openObject(path: string): Promise<{ stream: Readable; sizeBytes: number }> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw isAbsent(err) ? new AppError('not_found', 'object not found') : err;
  });
  // Size from the open descriptor, so Content-Length matches the bytes even if a PUT replaces
  // the file meanwhile (rename leaves this inode intact).
  const stat = await fh.stat().catch(async (err: unknown) => {
    await fh.close();
    throw err;
  });
  if (!stat.isFile()) {
    await fh.close();
    throw new AppError('not_found', 'object not found');
  }
  return { stream: fh.createReadStream(), sizeBytes: stat.size };
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true }).catch(asConflict);
}

/** A key whose path runs through another object (or onto a directory of keys) is a conflict. */
export function asConflict(err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
    throw new AppError('conflict', 'storage key collides with another object');
  }
  throw err;
}

export function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function nullIfAbsent(err: unknown): null {
  if (isAbsent(err)) return null;
  throw err;
}

// No room on the filesystem, over the user's disk quota, or past the largest file it holds.
const FULL_ERRNOS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** True for a write refused because the store's filesystem cannot hold more. */
export function isStoreFull(err: unknown): boolean {
  return FULL_ERRNOS.has((err as NodeJS.ErrnoException | null)?.code ?? '');
}

/**
 * A full filesystem as `insufficient_storage` (507), any other error as it is. The message names
 * no path (the errno's own names the temp file).
 */
export function asStoreFull(err: unknown): unknown {
  if (!isStoreFull(err)) return err;
  const message = 'the object store is out of space; nothing of this upload was kept, retry once space is freed';
  return new AppError('insufficient_storage', message);
}

export function tooLarge(max: number): AppError {
  return new AppError('payload_too_large', `object exceeds the ${max}-byte limit`);
}

const longerThanSigned = (bound: number) => new AppError('payload_too_large', `body is longer than the ${bound} bytes the URL was signed for`);
const otherThanSigned = (seen: number, bound: number) => new AppError('size_mismatch', `body is ${seen} bytes; the URL was signed for ${bound}`);

/**
 * Refuses, before reading the body, a request whose Content-Length is not the signed size. A
 * request without one (chunked) is held to the size by {@link exactLength} as it arrives.
 */
export function checkContentLength(req: Request, bound: number): void {
  const header = req.headers.get('content-length');
  if (header === null) return;
  const declared = Number(header);
  if (declared > bound) throw longerThanSigned(bound);
  if (declared !== bound) throw otherThanSigned(declared, bound);
}

/** Passes the body through, refusing it with `tooLong()` past `maxBytes`. */
export async function* atMost(chunks: AsyncIterable<Uint8Array>, maxBytes: number, tooLong: () => AppError): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of chunks) {
    seen += chunk.byteLength;
    if (seen > maxBytes) throw tooLong();
    yield chunk;
  }
}

/** Passes the body through while it stays within `bound` bytes, and refuses it unless it ends exactly there. */
export async function* exactLength(chunks: AsyncIterable<Uint8Array>, bound: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of chunks) {
    seen += chunk.byteLength;
    if (seen > bound) throw longerThanSigned(bound);
    yield chunk;
  }
  if (seen !== bound) throw otherThanSigned(seen, bound);
}

/**
 * Serialises a commit step per key within this process, so an object and its sidecar are
 * always from the same upload even when two writes of one key finish together.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

const WRITE_BATCH = 1024 * 1024;

/**
 * Groups a body's chunks (64 KiB or less off a socket) into batches of about 1 MiB, for one
 * writev each: a write per chunk is an await and a trip to the thread pool, and at 64 KiB those,
 * not the disk, set the pace. The chunks are passed on as they are, not copied.
 */
async function* batches(chunks: AsyncIterable<Uint8Array>, size = WRITE_BATCH): AsyncGenerator<Uint8Array[]> {
  let batch: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of chunks) {
    batch.push(chunk);
    bytes += chunk.byteLength;
    if (bytes >= size) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) yield batch;
}
