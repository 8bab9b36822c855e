import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError } from '../errors';
import { ensureDir, isAbsent, KeyedLock, readBody, TEMP_SUFFIX, tooLarge, writeFileAtomic, writeTemp } from './fs-io';
import { MAX_PART_BYTES, normalizeEtag, validatePartList, validateSha256, type CompletedPart } from './rules';

/**
 * Multipart uploads for the fs driver, laid out like this under the driver's root:
 *
 *   .multipart/<uploadId>/upload.json        { key, sha256, createdAt }
 *   .multipart/<uploadId>/<n>.<md5>          part n; its ETag is in the name, so a part and its
 *                                            ETag appear together, in one rename
 *   .multipart/<uploadId>/<n>.<uuid>.partial part n while it is being written
 *
 * Completion assembles the parts into a temp file next to the object and renames it into
 * place, so a reader sees the old object or the whole new one, never a prefix.
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
  /** Moves a finished temp file into place as `key` and writes its sidecar (removing the temp on failure). */
  commitObject(key: string, temp: string, info: { sizeBytes: number; declaredSha256: string; computedSha256: string }): Promise<void>;
}

interface UploadRecord {
  key: string;
  sha256: string;
  createdAt: string;
}

// We mint ids as 32 hex characters; anything else cannot name an upload (nor a path).
const UPLOAD_ID_RE = /^[0-9a-f]{32}$/;
const PART_FILE_RE = /^([0-9]{1,5})\.([0-9a-f]{32})$/;
const RECORD = 'upload.json';

const uploadNotFound = () => new AppError('not_found', 'multipart upload not found');

/** The multipart half of the fs driver; see {@link FsMultipartContext}. */
export function createFsMultipart(ctx: FsMultipartContext) {
  const partLocks = new KeyedLock();
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

  /** Parts actually on disk: part number -> ETags (more than one only after a crash mid-replace). */
  async function partsOnDisk(dir: string): Promise<Map<number, string[]>> {
    const names = await readdir(dir).catch((err: unknown) => {
      throw isAbsent(err) ? uploadNotFound() : err;
    });
    const parts = new Map<number, string[]>();
    for (const name of names) {
      const m = PART_FILE_RE.exec(name);
      if (m?.[1] === undefined || m[2] === undefined) continue;
      const n = Number(m[1]);
      parts.set(n, [...(parts.get(n) ?? []), m[2]]);
    }
    return parts;
  }

  /** The files to concatenate, after checking the list against what was uploaded. */
  async function resolveParts(dir: string, parts: readonly CompletedPart[]): Promise<string[]> {
    const onDisk = await partsOnDisk(dir);
    const files: string[] = [];
    let total = 0;
    for (const [i, part] of parts.entries()) {
      const etag = normalizeEtag(part.etag).toLowerCase();
      const uploaded = onDisk.get(part.partNumber);
      if (uploaded === undefined) throw new AppError('bad_request', `part ${part.partNumber} was not uploaded`);
      if (!uploaded.includes(etag)) throw new AppError('bad_request', `part ${part.partNumber}: ETag does not match the uploaded part`);
      const file = join(dir, `${part.partNumber}.${etag}`);
      const { size } = await stat(file).catch((err: unknown) => {
        throw isAbsent(err) ? uploadNotFound() : err;
      });
      if (i < parts.length - 1 && size < ctx.minPartBytes) {
        throw new AppError('bad_request', `part ${part.partNumber} is ${size} bytes; every part but the last must be at least ${ctx.minPartBytes}`);
      }
      total += size;
      files.push(file);
    }
    if (total > ctx.maxObjectBytes) throw tooLarge(ctx.maxObjectBytes);
    return files;
  }

  return {
    async create(key: string, sha256: string): Promise<{ uploadId: string }> {
      ctx.objectPath(key);
      validateSha256(sha256);
      const uploadId = randomBytes(16).toString('hex');
      const dir = dirOf(uploadId);
      await mkdir(dir, { recursive: true });
      const record: UploadRecord = { key, sha256, createdAt: new Date().toISOString() };
      await writeFileAtomic(join(dir, RECORD), JSON.stringify(record));
      return { uploadId };
    },

    /** Serves a verified part URL: streams the body to the upload dir, answers its ETag. */
    async handlePartPut(req: Request, key: string, uploadId: string, partNumber: number): Promise<Response> {
      ctx.objectPath(key);
      const { dir } = await openUpload(key, uploadId);
      if (Number(req.headers.get('content-length') ?? 0) > maxPartBytes) throw tooLarge(maxPartBytes);
      const temp = join(dir, `${partNumber}.${randomUUID()}${TEMP_SUFFIX}`);
      // ENOENT here means the upload was aborted while the part was on its way.
      const { digest: md5 } = await writeTemp(temp, readBody(req.body), { maxBytes: maxPartBytes, algorithm: 'md5' }).catch(
        (err: unknown) => {
          throw isAbsent(err) ? uploadNotFound() : err;
        },
      );
      const final = `${partNumber}.${md5}`;
      await partLocks.run(`${uploadId}/${partNumber}`, async () => {
        await rename(temp, join(dir, final)).catch(async (err: unknown) => {
          await rm(temp, { force: true });
          throw isAbsent(err) ? uploadNotFound() : err;
        });
        // A re-uploaded part replaces the earlier one, as on S3: its old ETag stops matching.
        for (const name of await readdir(dir).catch(() => [])) {
          if (name !== final && PART_FILE_RE.exec(name)?.[1] === String(partNumber)) await rm(join(dir, name), { force: true });
        }
      });
      return new Response(null, { status: 200, headers: { etag: `"${md5}"` } });
    },

    async complete(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
      validatePartList(parts);
      const object = ctx.objectPath(key);
      const { dir, record } = await openUpload(key, uploadId);
      const files = await resolveParts(dir, parts);
      await ensureDir(dirname(object));
      const temp = `${object}.${randomUUID()}${TEMP_SUFFIX}`;
      const { sizeBytes, digest } = await writeTemp(temp, concat(files), { maxBytes: ctx.maxObjectBytes, algorithm: 'sha256' });
      if (digest !== record.sha256) {
        // The upload stays open, as after any refused completion: the client may fix a part or abort.
        await rm(temp, { force: true });
        throw new AppError('digest_mismatch', 'assembled bytes do not match the sha256 declared at create');
      }
      await ctx.commitObject(key, temp, { sizeBytes, declaredSha256: record.sha256, computedSha256: digest });
      await rm(dir, { recursive: true, force: true });
    },

    async abort(key: string, uploadId: string): Promise<void> {
      try {
        const { dir } = await openUpload(key, uploadId);
        await rm(dir, { recursive: true, force: true });
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'not_found')) throw err;
      }
    },
  };
}

const ASSEMBLY_CHUNK = 1024 * 1024;

/** The parts' bytes in order; a part that vanishes mid-read means the upload was aborted. */
async function* concat(files: readonly string[]): AsyncGenerator<Uint8Array> {
  for (const file of files) {
    try {
      // 1 MiB reads: with the default 64 KiB, assembling a large upload is a thousand small
      // read/hash/write round trips per 64 MiB, several times the time the bytes take.
      yield* createReadStream(file, { highWaterMark: ASSEMBLY_CHUNK }) as AsyncIterable<Buffer>;
    } catch (err) {
      throw isAbsent(err) ? uploadNotFound() : err;
    }
  }
}
