import { CliError, EXIT } from '../errors';
import { rpc, type UploadCtx } from './context';
import type { PresignedBatch } from './part-urls';
import { partRange, uploadMissingParts } from './parts';
import { StorageHttpError } from './retry';
import { readState, type StateStore, type UploadState } from './state';

/** The server does not know this upload (aborted, expired, replaced): the saved state is useless. */
const UNKNOWN_UPLOAD = new Set(['unknown_digest', 'upload_id_mismatch', 'not_found']);

const serverSays = (err: unknown, codes: Set<string> | string) =>
  err instanceof CliError && typeof err.code === 'string' && (typeof codes === 'string' ? err.code === codes : codes.has(err.code));
/** Storage answers 404 for a part PUT to an upload that was aborted (S3 NoSuchUpload, fs not_found). */
const isUnknownUpload = (err: unknown) => serverSays(err, UNKNOWN_UPLOAD) || (err instanceof StorageHttpError && err.status === 404);

/**
 * Starts an upload, with the URLs of its first `firstBatch` parts presigned in the same round
 * trip; null when the digest is already stored or being verified.
 */
async function init(ctx: UploadCtx, partSize: number, firstBatch: number): Promise<{ state: UploadState; presigned?: PresignedBatch } | null> {
  const count = Math.ceil(ctx.sizeBytes / partSize);
  const presign_part_numbers = Array.from({ length: Math.min(firstBatch, count) }, (_, i) => i + 1);
  try {
    const { upload_id, presigned } = await rpc(ctx, 'starting multipart upload', (o) =>
      ctx.api.artifacts.multipartInit.mutate({ app_name: ctx.app, digest: ctx.digest, size_bytes: ctx.sizeBytes, part_size_bytes: partSize, presign_part_numbers }, o),
    );
    return { state: { digest: ctx.digest, app: ctx.app, upload_id, part_size: partSize, parts: {}, api_base: ctx.apiBase }, presigned };
  } catch (err) {
    if (serverSays(err, 'already_stored')) return null;
    throw err;
  }
}

async function complete(ctx: UploadCtx, state: UploadState, transferMs: number): Promise<void> {
  const parts = Object.entries(state.parts)
    .map(([n, etag]) => ({ part_number: Number(n), etag }))
    .sort((a, b) => a.part_number - b.part_number);
  await rpc(ctx, 'completing multipart upload', (o) =>
    ctx.api.artifacts.multipartComplete.mutate(
      {
        app_name: ctx.app,
        digest: ctx.digest,
        upload_id: state.upload_id,
        size_bytes: ctx.sizeBytes,
        parts,
        idempotency_key: `idem-${ctx.digest}`,
        signature: ctx.signature,
        upload_duration_secs: transferMs / 1000,
      },
      o,
    ),
  );
}

const finishedBytes = (ctx: UploadCtx, state: UploadState) =>
  Object.keys(state.parts).reduce((sum, n) => sum + partRange(state, ctx.sizeBytes, Number(n)).length, 0);

/**
 * A multipart upload that resumes from the saved state of an earlier run. When the server no
 * longer knows that upload (or refuses the resumed part list), it starts over once, cleanly.
 */
export async function uploadMultipart(
  ctx: UploadCtx,
  opts: { partSize: number; concurrency: number; store: StateStore },
): Promise<{ uploaded: boolean; transferMs: number; bytes: number; parts: number; partSize: number }> {
  const { store } = opts;
  let state = await readState(store.file, { digest: ctx.digest, app: ctx.app, api_base: ctx.apiBase });
  if (state) ctx.out.info(`resuming upload ${state.upload_id.slice(0, 12)}: ${Object.keys(state.parts).length} of ${Math.ceil(ctx.sizeBytes / state.part_size)} parts already sent`);
  for (let round = 1; ; round++) {
    const resumed = state !== null && Object.keys(state.parts).length > 0;
    let presigned: PresignedBatch | undefined;
    if (!state) {
      const started = await init(ctx, opts.partSize, opts.concurrency);
      state = started?.state ?? null;
      presigned = started?.presigned;
    }
    if (!state) {
      await store.remove();
      return { uploaded: false, transferMs: 0, bytes: 0, parts: 0, partSize: 0 };
    }
    await store.save(state);
    const before = finishedBytes(ctx, state);
    ctx.progress.reset(before);
    try {
      const transferMs = await uploadMissingParts(ctx, state, store, opts.concurrency, presigned);
      await complete(ctx, state, transferMs);
      await store.remove();
      return { uploaded: true, transferMs, bytes: ctx.sizeBytes - before, parts: Math.ceil(ctx.sizeBytes / state.part_size), partSize: state.part_size };
    } catch (err) {
      if (serverSays(err, 'already_stored')) {
        await store.remove();
        return { uploaded: false, transferMs: 0, bytes: 0, parts: 0, partSize: 0 };
      }
      const stale = isUnknownUpload(err) || (resumed && serverSays(err, 'bad_request'));
      if (round > 1 || !stale) throw err;
      ctx.out.warn(`the control plane no longer accepts upload ${state.upload_id.slice(0, 12)} (${(err as Error).message}); starting over`);
      await store.remove();
      state = null;
    }
  }
}
