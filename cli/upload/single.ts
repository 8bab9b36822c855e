import { rpc, type UploadCtx } from './context';
import { putRange, type PresignedPut } from './put';
import { backoffMs, isTransient, StorageHttpError, withRetry } from './retry';

// Presign again this long before the URL's stated expiry (clock skew, a slow first byte).
const EXPIRY_MARGIN_MS = 10_000;

type Presigned = PresignedPut & { expiresAt: number };

/** Presigns a single PUT; null when the server already has the digest (stored or verifying). */
async function presign(ctx: UploadCtx): Promise<Presigned | null> {
  const res = await rpc(ctx, 'presigning upload', (o) =>
    ctx.api.artifacts.presign.mutate({ app_name: ctx.app, digest: ctx.digest, size_bytes: ctx.sizeBytes }, o),
  );
  if (res.method === 'NONE') return null;
  return { url: res.upload_url, headers: res.headers, expiresAt: res.expires_at ? Date.parse(res.expires_at) : Infinity };
}

/**
 * One presigned PUT of the whole file. Network errors and 5xx are retried with backoff; a 403
 * (the URL expired while we waited, or storage disowns it) gets one fresh presign, then counts
 * as final like any other 4xx. Returns false when nothing had to be uploaded.
 */
export async function uploadSingle(ctx: UploadCtx): Promise<{ uploaded: boolean; transferMs: number }> {
  let url = await presign(ctx);
  if (!url) return { uploaded: false, transferMs: 0 };
  let represigned = false;
  let stale = false;
  const t0 = performance.now();
  const done = await withRetry(
    async (attempt) => {
      let target = url!;
      // A retry may come long after the presign: renew a URL about to expire instead of wasting a PUT.
      if (stale || (attempt > 1 && Date.now() > target.expiresAt - EXPIRY_MARGIN_MS)) {
        const fresh = await presign(ctx);
        if (!fresh) return false;
        url = target = fresh;
        stale = false;
      }
      await putRange(target, ctx.file, 0, ctx.sizeBytes, { traceId: ctx.traceId, signal: ctx.signal, onBytes: ctx.progress.add });
      return true;
    },
    {
      policy: ctx.policy,
      signal: ctx.signal,
      decide(err, attempt) {
        if (err instanceof StorageHttpError && err.status === 403 && !represigned) {
          represigned = stale = true;
          return 0;
        }
        return isTransient(err) ? backoffMs(attempt, ctx.policy) : null;
      },
    },
  );
  const transferMs = performance.now() - t0;
  if (!done) return { uploaded: false, transferMs: 0 };
  await rpc(ctx, 'completing upload', (o) =>
    ctx.api.artifacts.complete.mutate(
      {
        app_name: ctx.app,
        digest: ctx.digest,
        size_bytes: ctx.sizeBytes,
        idempotency_key: `idem-${ctx.digest}`,
        signature: ctx.signature,
        upload_duration_secs: transferMs / 1000,
      },
      o,
    ),
  );
  return { uploaded: true, transferMs };
}
