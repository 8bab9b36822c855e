import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError, isAppError } from '../errors';
import {
  atMost,
  checkContentLength,
  ensureDir,
  exactLength,
  isAbsent,
  isStoreFull,
  KeyedLock,
  readBody,
  TEMP_SUFFIX,
  tooLarge,
  writeChunks,
  writeFileAtomic,
  writeTemp,
} from './fs-io';
import { partCount, slotOf, UploadGate, validateLayout, type PartLayout, type Slot } from './fs-part-layout';
import { MAX_PART_BYTES, normalizeEtag, validatePartList, validateSha256, type CompletedPart } from './rules';

/**
 * Multipart uploads for the fs driver, laid out like this under the driver's root:
 *
 *   .multipart/<uploadId>/upload.json        { key, sha256, createdAt, layout? }
 *   .multipart/<uploadId>/<n>.<md5>          part n; its ETag is in the name, so a part and its
 *                                            ETag appear together, in one rename
 *   .multipart/<uploadId>/<n>.<uuid>.partial part n while it is being written
 *   .multipart/<uploadId>/object.data        with a declared layout (./fs-part-layout.ts): the
 *                                            object, each part written at its own offset
 *   .multipart/<uploadId>/<n>.<token>.at     part n is in object.data, whole; its ETag is the
 *                                            token, fresh for every write of the part
 *
 * A part goes to object.data when it is exactly its slot's size, else to a file of its own.
 * Completion hashes object.data and renames it into place when every listed part is in it;
 * otherwise it assembles the listed parts into a temp file next to the object and renames that.
 * Either way a reader sees the old object or the whole new one, never a prefix.
 */

/** First key segment reserved for upload directories. */
export const MULTIPART_DIR = '.multipart';

/** What the driver lends this module. */
export interface FsMultipartContext {
  rootDir: string;
  /** Smallest part allowed, except for the last one. */
  minPartBytes: number;
  maxObjectBytes: number;
  /** Validates the key and returns the object's file path. */
  objectPath(key: string): string;
  /**
   * Moves a finished temp file into place as `key` and writes its sidecar; on failure the temp is
   * removed, or moved back to `restoreTo`.
   */
  commitObject(
    key: string,
    temp: string,
    info: { sizeBytes: number; declaredSha256: string; computedSha256: string },
    restoreTo?: string,
  ): Promise<void>;
}

interface UploadRecord {
  key: string;
  sha256: string;
  createdAt: string;
  layout?: PartLayout;
  /** The whole object's declared size: all parts together may not hold more. */
  sizeBytes?: number;
}

// We mint ids as 32 hex characters; anything else cannot name an upload (nor a path).
const UPLOAD_ID_RE = /^[0-9a-f]{32}$/;
const PART_FILE_RE = /^([0-9]{1,5})\.([0-9a-f]{32})$/;
const PLACED_RE = /^([0-9]{1,5})\.([0-9a-f]{32})\.at$/;
const RECORD = 'upload.json';
const DATA = 'object.data';

/** Where one listed part's bytes are: a range of a file. */
interface Segment {
  file: string;
  start: number;
  length: number;
  /** In object.data at its slot. */
  placed: boolean;
}

const uploadNotFound = () => new AppError('not_found', 'multipart upload not found');

/** The multipart half of the fs driver; see {@link FsMultipartContext}. */
export function createFsMultipart(ctx: FsMultipartContext) {
  const partLocks = new KeyedLock();
  const completions = new KeyedLock();
  const gate = new UploadGate();
  const maxPartBytes = Math.min(ctx.maxObjectBytes, MAX_PART_BYTES);

  const dirOf = (uploadId: string) => join(ctx.rootDir, MULTIPART_DIR, uploadId);

  /** The upload's directory; not_found unless it exists and belongs to `key` (as on S3). */
  async function openUpload(key: string, uploadId: string): Promise<{ dir: string; record: UploadRecord }> {
    if (!UPLOAD_ID_RE.test(uploadId)) throw uploadNotFound();
    const dir = dirOf(uploadId);
    const raw = await readFile(/*turbopackIgnore: true*/ join(dir, RECORD), 'utf8').catch((err: unknown) => {
      throw isAbsent(err) ? uploadNotFound() : err;
    });
    const record = JSON.parse(raw) as UploadRecord;
    if (record.key !== key) throw uploadNotFound();
    return { dir, record };
  }

  /** Parts actually on disk: part number -> file names (more than one only after a crash mid-replace). */
  async function partsOnDisk(dir: string): Promise<Map<number, string[]>> {
    const names = await readdir(dir).catch((err: unknown) => {
      throw isAbsent(err) ? uploadNotFound() : err;
    });
    const parts = new Map<number, string[]>();
    for (const name of names) {
      const n = partNumberOf(name);
      if (n !== null) parts.set(n, [...(parts.get(n) ?? []), name]);
    }
    return parts;
  }

  /** Bytes the upload holds in parts other than `partNumber` (a part being replaced does not count). */
  async function bytesOfOtherParts(dir: string, record: UploadRecord, partNumber: number): Promise<number> {
    let total = 0;
    for (const [n, names] of await partsOnDisk(dir)) {
      if (n === partNumber) continue;
      for (const name of names) {
        const slot = name.endsWith('.at') && record.layout ? slotOf(record.layout, n) : null;
        total += slot ? slot.length : ((await stat(join(dir, name)).catch(() => null))?.size ?? 0);
      }
    }
    return total;
  }

  /** Where each listed part's bytes are, after checking the list against what was uploaded. */
  async function resolveParts(dir: string, record: UploadRecord, parts: readonly CompletedPart[]): Promise<Segment[]> {
    const onDisk = await partsOnDisk(dir);
    const segments: Segment[] = [];
    let total = 0;
    for (const [i, part] of parts.entries()) {
      const etag = normalizeEtag(part.etag).toLowerCase();
      const uploaded = onDisk.get(part.partNumber);
      if (uploaded === undefined) throw new AppError('bad_request', `part ${part.partNumber} was not uploaded`);
      const slot = record.layout && slotOf(record.layout, part.partNumber);
      let segment: Segment;
      if (slot && uploaded.includes(`${part.partNumber}.${etag}.at`)) {
        segment = { file: join(dir, DATA), ...slot, start: slot.offset, placed: true };
      } else if (uploaded.includes(`${part.partNumber}.${etag}`)) {
        const file = join(dir, `${part.partNumber}.${etag}`);
        const { size } = await stat(file).catch((err: unknown) => {
          throw isAbsent(err) ? uploadNotFound() : err;
        });
        segment = { file, start: 0, length: size, placed: false };
      } else {
        throw new AppError('bad_request', `part ${part.partNumber}: ETag does not match the uploaded part`);
      }
      if (i < parts.length - 1 && segment.length < ctx.minPartBytes) {
        throw new AppError('bad_request', `part ${part.partNumber} is ${segment.length} bytes; every part but the last must be at least ${ctx.minPartBytes}`);
      }
      total += segment.length;
      segments.push(segment);
    }
    if (total > ctx.maxObjectBytes) throw tooLarge(ctx.maxObjectBytes);
    return segments;
  }

  /**
   * Writes part n into object.data at its slot and answers a fresh token as its ETag. No md5:
   * here it would guard nothing (the slot, not a file of its own, holds the bytes, and the
   * sha256 at completion checks them all), and it cost more CPU than the sha256 itself.
   * Unlike a part file, a write cut off midway has already overwritten some of the slot. A
   * correct client resends the same bytes (the object is content-addressed), and anything else
   * fails the sha256 check at completion, so a torn slot is never stored.
   */
  async function writePlaced(dir: string, slot: Slot, body: AsyncIterable<Uint8Array>): Promise<string> {
    // No O_TRUNC: the other parts' bytes are in this file too. ENOENT: the upload was aborted.
    const fh = await open(join(dir, DATA), constants.O_WRONLY | constants.O_CREAT).catch((err: unknown) => {
      throw isAbsent(err) ? uploadNotFound() : err;
    });
    try {
      const tooLong = () => new AppError('bad_request', 'part body is longer than its Content-Length');
      const { sizeBytes } = await writeChunks(fh, body, { maxBytes: slot.length, position: slot.offset, tooLong });
      if (sizeBytes !== slot.length) throw new AppError('bad_request', 'upload body ended early');
      await fh.datasync();
      return randomBytes(16).toString('hex');
    } finally {
      await fh.close();
    }
  }

  /** Writes part n to a file of its own; its md5. */
  async function writeSeparate(dir: string, partNumber: number, body: AsyncIterable<Uint8Array>): Promise<{ md5: string; commit: (final: string) => Promise<void> }> {
    const temp = join(dir, `${partNumber}.${randomUUID()}${TEMP_SUFFIX}`);
    // ENOENT here means the upload was aborted while the part was on its way.
    const { digest: md5 } = await writeTemp(temp, body, { maxBytes: maxPartBytes, algorithm: 'md5' }).catch((err: unknown) => {
      throw isAbsent(err) ? uploadNotFound() : err;
    });
    const commit = (final: string) =>
      rename(temp, join(dir, final)).catch(async (err: unknown) => {
        await rm(temp, { force: true });
        throw isAbsent(err) ? uploadNotFound() : err;
      });
    return { md5, commit };
  }

  /** Every listed part in object.data, covering it: the object is that file as it stands. */
  async function completeInPlace(key: string, dir: string, record: UploadRecord & { layout: PartLayout }): Promise<void> {
    const data = join(dir, DATA);
    const { sizeBytes, digest } = await hashRange(data, 0, record.layout.sizeBytes);
    if (sizeBytes !== record.layout.sizeBytes || digest !== record.sha256) {
      throw new AppError('digest_mismatch', 'assembled bytes do not match the sha256 declared at create');
    }
    // An abort racing this completion removes the file: the upload is gone, not a 500.
    const gone = (err: unknown) => {
      throw isAbsent(err) ? uploadNotFound() : err;
    };
    // The parts were synced as they landed; this makes the file's size durable before it is named.
    const fh = await open(data, 'r+').catch(gone);
    await fh.sync().finally(() => fh.close());
    const object = ctx.objectPath(key);
    await ensureDir(dirname(object));
    const temp = `${object}.${randomUUID()}${TEMP_SUFFIX}`;
    await rename(data, temp).catch(gone);
    // Refused (a full disk): object.data goes back, so the upload can still be completed.
    await ctx.commitObject(key, temp, { sizeBytes, declaredSha256: record.sha256, computedSha256: digest }, data);
  }

  /**
   * After a part write into object.data ran out of space: its slot is torn, so the part's markers
   * go (under the part's lock, still inside the write); then, with no write in flight, the file is
   * cut back to the end of the last part still placed in it, or removed when none is. That gives
   * back what the write took past that end; blocks it took below a placed part stay until the
   * upload ends (a file cannot be shortened in its middle).
   */
  async function forgetPlaced(dir: string, uploadId: string, partNumber: number): Promise<void> {
    await partLocks.run(`${uploadId}/${partNumber}`, async () => {
      for (const name of await readdir(dir).catch(() => [])) {
        if (PLACED_RE.test(name) && partNumberOf(name) === partNumber) await rm(join(dir, name), { force: true });
      }
    });
  }

  async function shrinkData(dir: string, layout: PartLayout): Promise<void> {
    let end = 0;
    for (const [n, names] of await partsOnDisk(dir)) {
      const slot = slotOf(layout, n);
      if (slot && names.some((name) => PLACED_RE.test(name))) end = Math.max(end, slot.offset + slot.length);
    }
    const data = join(dir, DATA);
    if (end === 0) return rm(data, { force: true });
    const size = (await stat(data).catch(() => null))?.size ?? 0;
    if (size > end) await truncate(data, end);
  }

  return {
    async create(key: string, sha256: string, layout?: PartLayout, sizeBytes?: number): Promise<{ uploadId: string }> {
      ctx.objectPath(key);
      validateSha256(sha256);
      if (layout) validateLayout(layout);
      const declared = layout?.sizeBytes ?? sizeBytes;
      if (declared !== undefined && (!Number.isSafeInteger(declared) || declared < 1)) throw new AppError('bad_request', 'sizeBytes must be a positive integer');
      if (declared !== undefined && declared > ctx.maxObjectBytes) throw tooLarge(ctx.maxObjectBytes);
      const uploadId = randomBytes(16).toString('hex');
      const dir = dirOf(uploadId);
      const record: UploadRecord = { key, sha256, createdAt: new Date().toISOString(), ...(layout && { layout }), ...(declared !== undefined && { sizeBytes: declared }) };
      try {
        await mkdir(dir, { recursive: true });
        await writeFileAtomic(join(dir, RECORD), JSON.stringify(record));
      } catch (err) {
        // A directory without its record names no upload: nothing would ever remove it.
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      return { uploadId };
    },

    /** Serves a verified part URL: stores the body (in place when it fits its slot), answers its ETag. */
    async handlePartPut(req: Request, key: string, uploadId: string, partNumber: number, boundBytes?: number): Promise<Response> {
      ctx.objectPath(key);
      const { dir, record } = await openUpload(key, uploadId);
      const declaredLength = Number(req.headers.get('content-length') ?? -1);
      if (declaredLength > maxPartBytes) throw tooLarge(maxPartBytes);
      if (boundBytes !== undefined) checkContentLength(req, boundBytes);
      const slot = record.layout && slotOf(record.layout, partNumber);
      // An unbound part may take only what the declared size leaves: the upload never holds more
      // on disk than its reservation (parts racing each other are in-flight bytes).
      const room = boundBytes === undefined && record.sizeBytes !== undefined ? record.sizeBytes - (await bytesOfOtherParts(dir, record, partNumber)) : null;
      const overDeclared = () => new AppError('payload_too_large', `parts would hold more than the ${record.sizeBytes} bytes declared for the upload`);
      if (room !== null && declaredLength > room) throw overDeclared();
      let torn = false;
      const written = gate.write(uploadId, async () => {
        const raw = readBody(req.body);
        const body = boundBytes !== undefined ? exactLength(raw, boundBytes) : room !== null ? atMost(raw, room, overDeclared) : raw;
        let final: string;
        let commit = async (_name: string) => {};
        if (slot && slot.length === (boundBytes ?? declaredLength)) {
          const token = await writePlaced(dir, slot, body).catch(async (err: unknown) => {
            if (isStoreFull(err)) {
              torn = true;
              await forgetPlaced(dir, uploadId, partNumber);
            }
            throw err;
          });
          final = `${partNumber}.${token}.at`;
        } else {
          const separate = await writeSeparate(dir, partNumber, body);
          final = `${partNumber}.${separate.md5}`;
          commit = separate.commit;
        }
        await partLocks.run(`${uploadId}/${partNumber}`, async () => {
          if (final.endsWith('.at')) await writeFile(join(dir, final), '').catch((err: unknown) => {
            throw isAbsent(err) ? uploadNotFound() : err;
          });
          else await commit(final);
          // A re-uploaded part replaces the earlier one, as on S3: its old ETag stops matching.
          for (const name of await readdir(dir).catch(() => [])) {
            if (name !== final && partNumberOf(name) === partNumber) await rm(join(dir, name), { force: true });
          }
        });
        return new Response(null, { status: 200, headers: { etag: `"${final.split('.')[1]}"` } });
      });
      return written.catch(async (err: unknown) => {
        // Best effort: a completion already under way, or the upload gone, needs no shrinking.
        const { layout } = record;
        if (torn && layout) await gate.tidy(uploadId, () => shrinkData(dir, layout)).catch(() => undefined);
        throw err;
      });
    },

    async complete(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
      validatePartList(parts);
      const object = ctx.objectPath(key);
      // One completion at a time; the next finds the upload gone (not_found), as on S3.
      await completions.run(uploadId, async () => {
        const { dir, record } = await openUpload(key, uploadId);
        await gate.complete(uploadId, async () => {
          const segments = await resolveParts(dir, record, parts);
          // A refused completion leaves the upload open, as on S3: the client may fix a part or abort.
          if (record.layout && segments.length === partCount(record.layout) && segments.every((s) => s.placed)) {
            await completeInPlace(key, dir, { ...record, layout: record.layout });
          } else {
            await ensureDir(dirname(object));
            const temp = `${object}.${randomUUID()}${TEMP_SUFFIX}`;
            const { sizeBytes, digest } = await writeTemp(temp, concat(segments), { maxBytes: ctx.maxObjectBytes, algorithm: 'sha256' });
            if (digest !== record.sha256) {
              await rm(temp, { force: true });
              throw new AppError('digest_mismatch', 'assembled bytes do not match the sha256 declared at create');
            }
            await ctx.commitObject(key, temp, { sizeBytes, declaredSha256: record.sha256, computedSha256: digest });
          }
        });
        await rm(dir, { recursive: true, force: true });
      });
    },

    async abort(key: string, uploadId: string): Promise<void> {
      try {
        const { dir } = await openUpload(key, uploadId);
        await rm(dir, { recursive: true, force: true });
      } catch (err) {
        if (!(isAppError(err) && err.code === 'not_found')) throw err;
      }
    },
  };
}

const ASSEMBLY_CHUNK = 1024 * 1024;

/** The listed parts' bytes in order; a part that vanishes mid-read means the upload was aborted. */
async function* concat(segments: readonly Segment[]): AsyncGenerator<Uint8Array> {
  for (const { file, start, length } of segments) {
    if (length === 0) continue;
    try {
      // 1 MiB reads: with the default 64 KiB, assembling a large upload is a thousand small
      // read/hash/write round trips per 64 MiB, several times the time the bytes take.
      yield* createReadStream(file, { start, end: start + length - 1, highWaterMark: ASSEMBLY_CHUNK }) as AsyncIterable<Buffer>;
    } catch (err) {
      throw isAbsent(err) ? uploadNotFound() : err;
    }
  }
}

/** sha256 and length of a file's bytes [start, start + length). */
async function hashRange(file: string, start: number, length: number): Promise<{ sizeBytes: number; digest: string }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of concat([{ file, start, length, placed: true }])) {
    hash.update(chunk);
    sizeBytes += chunk.byteLength;
  }
  return { sizeBytes, digest: hash.digest('hex') };
}

function partNumberOf(name: string): number | null {
  const m = PART_FILE_RE.exec(name) ?? PLACED_RE.exec(name);
  return m?.[1] === undefined ? null : Number(m[1]);
}
