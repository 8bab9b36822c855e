import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { AppError } from '../errors';

/** File plumbing shared by the fs driver's whole-object and multipart paths. */

/** Suffix of every file still being written; never an object, never a part. */
export const TEMP_SUFFIX = '.partial';

/** Body chunks; a body that breaks off (client gone) is the client's fault, not a 500. */
export async function* readBody(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (body === null) return;
  try {
    yield* Readable.fromWeb(body as unknown as NodeReadableStream<Uint8Array>);
  } catch {
    throw new AppError('bad_request', 'upload body ended early');
  }
}

export async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  // write() may write less than asked; loop until the chunk is on disk.
  for (let offset = 0; offset < chunk.byteLength; ) {
    const { bytesWritten } = await fh.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
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
    const hash = createHash(opts.algorithm);
    let sizeBytes = 0;
    for await (const chunk of chunks) {
      sizeBytes += chunk.byteLength;
      if (sizeBytes > opts.maxBytes) throw tooLarge(opts.maxBytes);
      hash.update(chunk);
      await writeAll(fh, chunk);
    }
    await fh.sync();
    await fh.close();
    return { sizeBytes, digest: hash.digest('hex') };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}

export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temp = `${path}.${randomUUID()}${TEMP_SUFFIX}`;
  try {
    const fh = await open(temp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
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

export function tooLarge(max: number): AppError {
  return new AppError('payload_too_large', `object exceeds the ${max}-byte limit`);
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
