import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { outageError, RETRY_AFTER_SECS } from '../outage';
import { AppError, isAppError } from '../errors';
import {
  asConflict,
  asStoreFull,
  checkContentLength,
  ensureDir,
  exactLength,
  isStoreFull,
  KeyedLock,
  nullIfAbsent,
  openObject,
  readBody,
  TEMP_SUFFIX,
  tooLarge,
  writeTemp,
  writeTempBeside,
} from './fs-io';
import { createFsMultipart, MULTIPART_DIR } from './fs-multipart';
import type { ObjectInfo, PresignedRequest, StorageDriver } from './port';
import {
  DEFAULT_MIN_PART_BYTES,
  MAX_PART_BYTES,
  validateBoundSize,
  validateExpiresIn,
  validatePartNumber,
  validateSha256,
} from './rules';
import {
  DEFAULT_CLOCK_SKEW_SECS,
  isPart,
  STORAGE_PATH_PREFIX,
  signStorageUrl,
  validateStorageKey,
  verifyStorageUrl,
  type SignedClaims,
} from './url-signing';

/** Options of {@link createFsStorage}. */
export interface FsStorageOptions {
  /** Directory that holds the objects; created on first write. */
  rootDir: string;
  /** Public base URL of the control plane; signed URLs point at `${baseUrl}/storage/...`. */
  baseUrl: string;
  /** HMAC key for signed URLs, at least 16 bytes. Rotating it invalidates outstanding URLs. */
  secret: Buffer;
  /** Largest object accepted by PUT or multipart completion, in bytes. Default 1 GiB. */
  maxObjectBytes?: number;
  /** Smallest multipart part but the last, in bytes. Default 5 MiB, S3's rule; tests lower it. */
  minPartBytes?: number;
  /** Clock in Unix seconds, for tests. */
  now?: () => number;
  /**
   * Seconds a URL stays good past its `expires`, for a signer whose clock runs ahead of this one
   * (another replica). Default {@link DEFAULT_CLOCK_SKEW_SECS}.
   */
  clockSkewSecs?: number;
  /** Sees unexpected (5xx) errors, whose details never reach the client. Default console.error. */
  onInternalError?: (err: unknown) => void;
}

/** The embedded storage driver: a {@link StorageDriver} plus the HTTP handler for its URLs. */
export interface FsStorage extends StorageDriver {
  readonly kind: 'fs';
  /**
   * Serves a signed storage URL (PUT upload, PUT of a multipart part, or GET download). Called by the edge's `/storage/`
   * route (server/http/storage.ts) with the web-standard Request; never throws, errors come back as
   * `{ code, message }` JSON with the code's HTTP status.
   */
  handleRequest(req: Request): Promise<Response>;
  /** Deletes `.partial` files idle for `idleMs` (a live upload keeps writing to its file). */
  sweepPartials(idleMs: number): Promise<number>;
  /** Installs the gate every whole-object PUT of a signed URL commits through (none: all commit). */
  gatePuts(gate: PutGate): void;
}

/**
 * Decides whether a PUT of a still-signed URL may land its bytes at `key`: it runs `commit` (and
 * so holds whatever it checked) or throws an AppError. A signed URL outlives the upload it was
 * made for (refused, collected, replaced); only the caller knows whether that upload still is.
 */
export type PutGate = (key: string, sizeBytes: number | undefined, commit: () => Promise<void>) => Promise<void>;

/** Stored next to each object; its presence is what makes the object exist for head(). */
interface MetaFile {
  sizeBytes: number;
  declaredSha256: string | null;
  computedSha256: string;
  storedAt: string;
}

const META_SUFFIX = '.meta.json';
const DEFAULT_MAX_OBJECT_BYTES = 1024 ** 3;

/**
 * Creates the `fs` driver: objects at `<rootDir>/<key>` with a `<key>.meta.json` sidecar, and
 * presigned URLs signed with HMAC-SHA256 served by {@link FsStorage.handleRequest}. Multipart
 * uploads live under `<rootDir>/.multipart/` (see ./fs-multipart.ts).
 */
/** True for the embedded driver, whose signed URLs the control plane serves itself. */
export function isFsStorage(driver: StorageDriver): driver is FsStorage {
  return driver.kind === 'fs' && typeof (driver as Partial<FsStorage>).handleRequest === 'function';
}

export function createFsStorage(opts: FsStorageOptions): FsStorage {
  if (opts.secret.length < 16) throw new Error('fs storage secret must be at least 16 bytes');
  const { rootDir, secret } = opts;
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const maxObjectBytes = opts.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const skewSecs = opts.clockSkewSecs ?? DEFAULT_CLOCK_SKEW_SECS;
  const onInternalError = opts.onInternalError ?? ((err: unknown) => console.error('fs storage:', err));
  // A control plane mounted below `/` sees its own path in front of /storage/.
  const pathPrefix = new URL(baseUrl).pathname.replace(/\/+$/, '') + STORAGE_PATH_PREFIX;
  const commits = new KeyedLock();
  let putGate: PutGate = (_key, _size, commit) => commit();

  function pathsOf(key: string): { object: string; meta: string } {
    validateStorageKey(key);
    // Reserved suffixes keep a key from landing on another key's sidecar or temp file.
    if (key.split('/').some((s) => s.endsWith(META_SUFFIX) || s.endsWith(TEMP_SUFFIX))) {
      throw new AppError('bad_request', `storage key segments may not end in ${META_SUFFIX} or ${TEMP_SUFFIX}`);
    }
    if (key.split('/', 1)[0] === MULTIPART_DIR)
      throw new AppError('bad_request', `storage keys may not start with ${MULTIPART_DIR}/`);
    const object = join(rootDir, ...key.split('/'));
    return { object, meta: object + META_SUFFIX };
  }

  function presign(
    claims: Omit<SignedClaims, 'expiresAt'>,
    expiresInSecs: number,
    headers: Record<string, string>,
  ): PresignedRequest {
    pathsOf(claims.key);
    const expiresAt = now() + validateExpiresIn(expiresInSecs);
    const url = signStorageUrl(baseUrl, secret, { ...claims, expiresAt });
    return { url, method: claims.method, headers, expiresAt: new Date(expiresAt * 1000) };
  }

  /**
   * Renames a finished temp file into place and its sidecar after it. Object first, sidecar last
   * (and removed first by delete): a crash in between leaves an object that head() reports
   * absent, so it is uploaded again rather than trusted. The sidecar's bytes are written before
   * either rename, so a full disk refuses the commit with the previous object whole. A temp file
   * not moved is removed, or put back at `restoreTo`.
   */
  async function commitObject(
    key: string,
    temp: string,
    info: Omit<MetaFile, 'storedAt'>,
    restoreTo?: string,
  ): Promise<void> {
    let sidecar: string | undefined;
    try {
      sidecar = await stageSidecar(key, info);
    } finally {
      if (sidecar === undefined) await putBack(temp, restoreTo);
    }
    await commitStaged(key, temp, sidecar, restoreTo);
  }

  /** The sidecar `info` commits with, written and synced beside the object's path: its temp file. */
  async function stageSidecar(key: string, info: Omit<MetaFile, 'storedAt'>): Promise<string> {
    const metaFile: MetaFile = { ...info, storedAt: new Date().toISOString() };
    return writeTempBeside(pathsOf(key).meta, JSON.stringify(metaFile));
  }

  /** {@link commitObject}'s renames, of a sidecar already staged: all a gate's lock needs to cover. */
  async function commitStaged(key: string, temp: string, sidecar: string, restoreTo?: string): Promise<void> {
    const { object, meta } = pathsOf(key);
    let moved = false;
    let placed = false;
    try {
      await commits.run(key, async () => {
        await rename(temp, object).catch(asConflict);
        moved = true;
        await rename(sidecar, meta);
        placed = true;
      });
    } finally {
      // The sidecar no commit will name.
      if (!placed) await rm(sidecar, { force: true });
      if (!moved) await putBack(temp, restoreTo);
    }
  }

  /** A temp file not committed: removed, or put back at `restoreTo`. */
  const putBack = async (temp: string, restoreTo?: string) => {
    const discard = () => rm(temp, { force: true });
    await (restoreTo === undefined ? discard() : rename(temp, restoreTo).catch(discard));
  };

  /** {@link asStoreFull}, logged first: a full disk needs an operator, not just a 507. */
  function storeError(err: unknown): unknown {
    if (isStoreFull(err)) onInternalError(err);
    return asStoreFull(err);
  }
  const rethrowStoreError = (err: unknown): never => {
    throw storeError(err);
  };

  const multipart = createFsMultipart({
    rootDir,
    minPartBytes: opts.minPartBytes ?? DEFAULT_MIN_PART_BYTES,
    maxObjectBytes,
    objectPath: (key) => pathsOf(key).object,
    commitObject,
  });

  async function handlePut(req: Request, claims: SignedClaims): Promise<Response> {
    const { object } = pathsOf(claims.key);
    const expected = claims.sha256;
    if (!expected) throw new AppError('bad_request', 'upload URL carries no sha256');
    const declared = req.headers.get('x-amz-meta-sha256');
    if (declared !== expected) throw new AppError('bad_request', 'x-amz-meta-sha256 must equal the signed sha256');
    // Refuse early when the client says up front that the body is too big (or not the signed size).
    if (Number(req.headers.get('content-length') ?? 0) > maxObjectBytes) throw tooLarge(maxObjectBytes);
    if (claims.sizeBytes !== undefined) checkContentLength(req, claims.sizeBytes);

    await ensureDir(dirname(object));
    const temp = `${object}.${randomUUID()}${TEMP_SUFFIX}`;
    const body =
      claims.sizeBytes === undefined ? readBody(req.body) : exactLength(readBody(req.body), claims.sizeBytes);
    // writeTemp removes the temp file when the body is refused midway: nothing half-written stays.
    const { sizeBytes, digest } = await writeTemp(temp, body, { maxBytes: maxObjectBytes, algorithm: 'sha256' });
    if (digest !== expected) {
      await rm(temp, { force: true });
      throw new AppError('digest_mismatch', 'uploaded bytes do not match the signed sha256');
    }
    let sidecar: string | undefined;
    let committing = false;
    try {
      // Written and synced before the gate: its row lock (and a database connection) is held
      // only for the renames.
      sidecar = await stageSidecar(claims.key, { sizeBytes, declaredSha256: declared, computedSha256: digest });
      const staged = sidecar;
      await putGate(claims.key, claims.sizeBytes, () => {
        committing = true;
        return commitStaged(claims.key, temp, staged);
      });
    } finally {
      // commitStaged cleans up after itself; a refusal by the gate leaves both temp files to us.
      if (!committing)
        await Promise.all([rm(temp, { force: true }), sidecar === undefined ? null : rm(sidecar, { force: true })]);
    }
    return new Response(null, { status: 200, headers: { etag: `"${digest}"` } });
  }

  /** {@link StorageDriver.putObject}: the same temp-then-commit path as a presigned PUT. */
  async function putObject(
    key: string,
    body: AsyncIterable<Uint8Array>,
    opts: { sha256: string; sizeBytes: number },
  ): Promise<void> {
    validateSha256(opts.sha256);
    const { object } = pathsOf(key);
    if (opts.sizeBytes > maxObjectBytes) throw tooLarge(maxObjectBytes);
    try {
      await ensureDir(dirname(object));
      const temp = `${object}.${randomUUID()}${TEMP_SUFFIX}`;
      const { sizeBytes, digest } = await writeTemp(temp, body, { maxBytes: maxObjectBytes, algorithm: 'sha256' });
      if (sizeBytes !== opts.sizeBytes || digest !== opts.sha256) {
        await rm(temp, { force: true });
        if (sizeBytes !== opts.sizeBytes)
          throw new AppError('bad_request', `object body was ${sizeBytes} bytes, declared ${opts.sizeBytes}`);
        throw new AppError('digest_mismatch', 'object bytes do not match the declared sha256');
      }
      await commitObject(key, temp, { sizeBytes, declaredSha256: opts.sha256, computedSha256: digest });
    } catch (err) {
      throw storeError(err);
    }
  }

  async function handleGet(claims: SignedClaims): Promise<Response> {
    const { stream, sizeBytes } = await openObject(pathsOf(claims.key).object);
    const body = Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'application/gzip', 'content-length': String(sizeBytes) },
    });
  }

  /** `closeConnection`: the request body may be unread, so the connection cannot be reused. */
  function errorResponse(err: unknown, closeConnection: boolean): Response {
    let appErr: AppError;
    const outage = isAppError(err) ? null : outageError(err);
    if (isAppError(err)) {
      appErr = err;
    } else if (outage) {
      // The upload gate's lookup with the database away: a 503 the uploader waits out.
      appErr = outage;
    } else {
      onInternalError(err);
      appErr = new AppError('internal', 'internal error');
    }
    // Without `connection: close`, a keep-alive client that is still sending the body it was
    // refused waits for a response that the server will not parse: seen as a hang with fetch.
    const headers: Record<string, string> = closeConnection ? { connection: 'close' } : {};
    if (appErr.code === 'service_unavailable') headers['retry-after'] = String(RETRY_AFTER_SECS);
    return Response.json(appErr.toEnvelope(), { status: appErr.httpStatus, headers });
  }

  return {
    kind: 'fs',
    limits: { maxPutBytes: maxObjectBytes, maxObjectBytes },
    async presignPut(key, { sha256, expiresInSecs, sizeBytes }) {
      validateSha256(sha256);
      validateBoundSize(sizeBytes, maxObjectBytes);
      const headers = { 'content-type': 'application/gzip', 'x-amz-meta-sha256': sha256 };
      return presign(
        { method: 'PUT', key, sha256, ...(sizeBytes !== undefined && { sizeBytes }) },
        expiresInSecs,
        headers,
      );
    },
    async presignGet(key, { expiresInSecs }) {
      return presign({ method: 'GET', key }, expiresInSecs, {});
    },
    async head(key) {
      // A sidecar of a few hundred bytes on the local disk, read at once: readFile's four
      // thread-pool hops (open, fstat, read, close) each wait out a whole event-loop turn when
      // the plane is busy, and head() is on every complete's path.
      let raw: string | null;
      try {
        raw = readFileSync(/*turbopackIgnore: true*/ pathsOf(key).meta, 'utf8');
      } catch (err) {
        raw = nullIfAbsent(err);
      }
      if (raw === null) return null;
      const m = JSON.parse(raw) as MetaFile;
      return {
        sizeBytes: m.sizeBytes,
        declaredSha256: m.declaredSha256,
        computedSha256: m.computedSha256,
      } satisfies ObjectInfo;
    },
    putObject,
    async openRead(key) {
      return (await openObject(pathsOf(key).object)).stream;
    },
    async delete(key) {
      const { object, meta } = pathsOf(key);
      await commits.run(key, async () => {
        await rm(meta, { force: true });
        await rm(object, { force: true });
      });
    },
    createMultipart: (key, { sha256, layout, sizeBytes }) =>
      multipart.create(key, sha256, layout, sizeBytes).catch(rethrowStoreError),
    async presignPart(key, { uploadId, partNumber, expiresInSecs, sizeBytes }) {
      validatePartNumber(partNumber);
      validateBoundSize(sizeBytes, Math.min(maxObjectBytes, MAX_PART_BYTES));
      return presign(
        { method: 'PUT', key, uploadId, partNumber, ...(sizeBytes !== undefined && { sizeBytes }) },
        expiresInSecs,
        {},
      );
    },
    completeMultipart: (key, { uploadId, parts }) => multipart.complete(key, uploadId, parts).catch(rethrowStoreError),
    abortMultipart: (key, { uploadId }) => multipart.abort(key, uploadId),
    async sweepPartials(idleMs) {
      const names = await readdir(/*turbopackIgnore: true*/ rootDir, { recursive: true }).catch(() => [] as string[]);
      let removed = 0;
      for (const name of names.filter((n) => n.endsWith(TEMP_SUFFIX))) {
        const file = join(/*turbopackIgnore: true*/ rootDir, name);
        const info = await stat(file).catch(() => null);
        if (!info || Date.now() - info.mtimeMs < idleMs) continue;
        await rm(file, { force: true });
        removed++;
      }
      return removed;
    },
    gatePuts(gate) {
      putGate = gate;
    },
    async handleRequest(req) {
      try {
        const claims = verifyStorageUrl(secret, req, { now: now(), pathPrefix, skewSecs });
        if (isPart(claims))
          return await multipart.handlePartPut(req, claims.key, claims.uploadId, claims.partNumber, claims.sizeBytes);
        return claims.method === 'PUT' ? await handlePut(req, claims) : await handleGet(claims);
      } catch (err) {
        return errorResponse(storeError(err), req.method !== 'GET' && req.method !== 'HEAD');
      }
    },
  };
}
