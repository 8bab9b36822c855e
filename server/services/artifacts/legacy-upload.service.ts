import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { applications, type ArtifactStatus } from '../../../db/schema';
import { AppError, isAppError, notFound } from '../../errors';
import { asStoreFull, writeTemp } from '../../storage/fs-io';
import { getAppForActor, type AppRow } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { toArtifactDto } from '../dto';
import { findArtifact, type ArtifactRow } from './artifacts.repo';
import { beginVerification } from './begin-verification';
import { discardUpload } from './discard-upload';
import { waitArtifact } from './query.service';
import { assertSizeAllowed, precheckQuota, reservePending } from './upload.service';

/** Where bodies are spooled while they are hashed, under the data dir (`upload-<uuid>.part`, as the seed). */
export const LEGACY_UPLOAD_DIR = 'uploads';
const PUT_ATTEMPTS = 3;
const PUT_BACKOFF_MS = 200;

export interface LegacyUploadInput {
  app_name: string;
  digest: string;
  signature?: string;
  /** The body's Content-Length, when the client sent one: too big is refused unread. */
  declared_size_bytes?: number;
}

/** The seed's answer, plus `status`/`failure_reason` of the verification it waited for. */
export interface LegacyUploadResult {
  /** The storage key (never a URL: presigned URLs expire, keys do not). */
  artifact_url: string;
  digest: string;
  duplicate: boolean;
  /** Always true: an upload for an unknown app is refused (the seed stored it unlinked). */
  app_linked: boolean;
  verified: boolean;
  status: ArtifactStatus;
  failure_reason: string | null;
}

export interface LegacyUploadOptions {
  /** Waits for an upload slot (backpressure) right before the body is read; returns its release. */
  acquireSlot(): Promise<() => void>;
  /** How long to wait for the verification outcome before answering `verifying`. */
  waitMs: number;
}

/**
 * The deprecated one-request upload (`POST /artifacts`): the body is spooled to a temp file while
 * hashed, then stored through the same domain path as presign + PUT + complete (pending row,
 * object, quota, `verifying` + queued job), and the answer waits, bounded, for verification.
 * Everything that can be refused without the body is refused before the body is read.
 */
export async function legacyUpload(ctx: ServiceCtx, input: LegacyUploadInput, body: AsyncIterable<Uint8Array>, opts: LegacyUploadOptions): Promise<LegacyUploadResult> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  if (input.declared_size_bytes !== undefined) assertSizeAllowed(ctx, input.declared_size_bytes, ctx.storage.limits.maxPutBytes);
  const existing = await findArtifact(ctx.db, app.id, input.digest);
  // Already uploaded (verified, or being verified). Keys are content-addressed, so the body
  // could only rewrite the same bytes (or fail its digest): answering unread saves the
  // transfer and a slot, and the stored object is never touched.
  if (existing?.status === 'stored' || existing?.status === 'verifying') return answerDuplicate(ctx, app, existing, opts.waitMs);
  await precheckQuota(ctx, app, input.digest, input.declared_size_bytes ?? 0);

  const release = await opts.acquireSlot();
  let row: ArtifactRow | null;
  try {
    row = await receiveAndStore(ctx, app, input, body);
  } finally {
    // The slot bounds disk and bandwidth use; waiting for the verifier below needs neither.
    release();
  }
  if (!row) {
    // Another upload of this digest got there while this body was in flight.
    const current = await findArtifact(ctx.db, app.id, input.digest);
    if (!current) throw new AppError('conflict', 'the artifact changed during the upload; retry');
    return answerDuplicate(ctx, app, current, opts.waitMs);
  }
  return answer(ctx, app, row, false, opts.waitMs);
}

/**
 * Spools and checks the body, then stores it. Returns the artifact now `verifying`, or null
 * when another upload already stored (or is verifying) this digest. The temp file never
 * survives this call; nothing is recorded unless the bytes matched the declared digest.
 */
async function receiveAndStore(ctx: ServiceCtx, before: AppRow, input: LegacyUploadInput, body: AsyncIterable<Uint8Array>): Promise<ArtifactRow | null> {
  const dir = path.join(ctx.env.AETHER_DATA_DIR, LEGACY_UPLOAD_DIR);
  const spoolFull = (err: unknown): never => {
    const mapped = asStoreFull(err);
    if (mapped !== err) ctx.log.error('legacy upload: no space left to spool the body', { err });
    throw mapped;
  };
  await mkdir(dir, { recursive: true }).catch(spoolFull);
  const temp = path.join(dir, `upload-${randomUUID()}.part`);
  try {
    // writeTemp removes the file itself when the body fails, crosses the limit or fills the disk.
    const limits = { maxBytes: Number.MAX_SAFE_INTEGER, algorithm: 'sha256' } as const;
    const received = await writeTemp(temp, withinSizeLimit(ctx, body), limits).catch(spoolFull);
    if (received.digest !== input.digest) throw new AppError('digest_mismatch', 'the uploaded bytes do not match X-Aether-Artifact-Digest');
    // The body may have taken minutes: quota is judged on the app's limits as they are now.
    const [app] = await ctx.db.select().from(applications).where(eq(applications.id, before.id)).limit(1);
    if (!app) throw notFound(`app "${before.name}"`);
    // The size is known only now for a chunked body: check the byte quota before storing.
    assertSizeAllowed(ctx, received.sizeBytes, ctx.storage.limits.maxPutBytes);
    await precheckQuota(ctx, app, input.digest, received.sizeBytes);
    // Row first, then object (as presign then PUT): a crash in between leaves a pending row
    // that pending GC removes with its object, never an object no row points at.
    const row = await reservePending(ctx, app, input.digest, received.sizeBytes);
    if (!row) return null;
    await putObject(ctx, row.storageKey, temp, input.digest, received.sizeBytes).catch(async (err: unknown) => {
      // A full store is final for this request: the reservation it made stops holding quota now
      // (the row turns failed; a retry resets it) instead of at the next pending GC.
      if (isAppError(err) && err.code === 'insufficient_storage') {
        await discardUpload(ctx, row, 'insufficient_storage', err.message);
      }
      throw err;
    });
    ctx.metrics.artifactUploadBytes.inc(received.sizeBytes);
    return await beginVerification(ctx, app, row, { signature: input.signature });
  } finally {
    await rm(temp, { force: true });
  }
}

/** Passes the body through, refusing it as soon as it crosses AETHER_MAX_ARTIFACT_SIZE_BYTES. */
async function* withinSizeLimit(ctx: ServiceCtx, chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const max = ctx.env.AETHER_MAX_ARTIFACT_SIZE_BYTES;
  let seen = 0;
  for await (const chunk of chunks) {
    seen += chunk.byteLength;
    if (max > 0 && seen > max) {
      ctx.metrics.artifactSizeExceeded.inc();
      throw new AppError('size_exceeded', `artifact exceeds the ${max}-byte limit`);
    }
    yield chunk;
  }
}

/**
 * Stores the spooled file. Object stores do not retry a streamed body (it cannot be replayed;
 * the S3 SDK gives up on the first error), but a file can be reopened: transient failures get
 * a few attempts here. Refusals (AppError) are final.
 */
async function putObject(ctx: ServiceCtx, key: string, file: string, sha256: string, sizeBytes: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.storage.putObject(key, createReadStream(/*turbopackIgnore: true*/ file), { sha256, sizeBytes });
    } catch (err) {
      if (isAppError(err)) throw err;
      if (attempt >= PUT_ATTEMPTS) {
        ctx.log.error('legacy upload: storage write failed', { key, attempts: attempt, err });
        throw new AppError('service_unavailable', 'object storage did not accept the artifact; retry');
      }
      ctx.log.warn('legacy upload: storage write failed, retrying', { key, attempt, err });
      await new Promise((r) => setTimeout(r, PUT_BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }
}


async function answerDuplicate(ctx: ServiceCtx, app: AppRow, row: ArtifactRow, waitMs: number): Promise<LegacyUploadResult> {
  // A verifying row may have lost its job to a queue outage: re-queue it, as a repeated complete does.
  const current = await beginVerification(ctx, app, row, {});
  return answer(ctx, app, current, true, waitMs);
}

/** Waits (bounded) for verification to settle, so `verified` and `status` are the truth. */
async function answer(ctx: ServiceCtx, app: AppRow, row: ArtifactRow, duplicate: boolean, waitMs: number): Promise<LegacyUploadResult> {
  const settled = row.status === 'verifying' ? await waitArtifact(ctx, { app_name: app.name, digest: row.digest, timeout_ms: waitMs }) : toArtifactDto(row, app.name);
  return {
    artifact_url: settled.storage_key,
    digest: settled.digest,
    duplicate,
    app_linked: true,
    verified: settled.verified,
    status: settled.status,
    failure_reason: settled.failure_reason,
  };
}
