import { z } from 'zod';
import { ZAppName } from './apps';
import { ZDigest } from './digest';

/**
 * Procedure inputs. One definition serves tRPC, the REST routes generated from it and the
 * CLI, so field names are the seed's HTTP contract (snake_case). Pure: zod only.
 */

// A tar.gz is never empty (the gzip header alone is 10 bytes): 0 is refused, not stored.
const ZSize = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** Long-poll: the server answers as soon as the state settles, or after `timeout_ms`. */
const ZWaitMs = z.coerce.number().int().min(0).max(30_000).default(20_000);
const ZLimit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);

export const ZAppRef = z.object({ app_name: ZAppName });
export type TAppRef = z.infer<typeof ZAppRef>;

export const ZCreateAppInput = z.object({ name: ZAppName });
export type TCreateAppInput = z.infer<typeof ZCreateAppInput>;

export const ZArtifactRef = z.object({ app_name: ZAppName, digest: ZDigest });
export type TArtifactRef = z.infer<typeof ZArtifactRef>;

export const ZPresignInput = ZArtifactRef.extend({ size_bytes: ZSize });
export type TPresignInput = z.infer<typeof ZPresignInput>;

const ZIdempotencyKey = z.string().min(1).max(200);
/** Ed25519 signature (64 bytes, hex) over the ASCII hex digest, checked against the app's active keys. */
const ZSignature = z.string().regex(/^[0-9a-f]{128}$/, 'signature must be 128 lowercase hex characters (Ed25519)');
/** Client-measured PUT time, recorded in artifact_put_duration_seconds (the seed's X-Aether-Upload-Duration). */
const ZUploadDuration = z.number().nonnegative().max(86_400);

export const ZCompleteInput = ZArtifactRef.extend({
  size_bytes: ZSize,
  idempotency_key: ZIdempotencyKey.optional(),
  signature: ZSignature.optional(),
  upload_duration_secs: ZUploadDuration.optional(),
});
export type TCompleteInput = z.infer<typeof ZCompleteInput>;

export const ZWaitArtifactInput = ZArtifactRef.extend({ timeout_ms: ZWaitMs });

// ---- multipart: the seed's /artifacts/multipart/* (plus app_name: digests are unique per app) ----

export const ZMultipartInitInput = ZArtifactRef.extend({ size_bytes: ZSize });
export type TMultipartInitInput = z.infer<typeof ZMultipartInitInput>;

const ZUploadId = z.string().min(1).max(1024);
const ZPartNumber = z.number().int().min(1).max(10_000);

export const ZMultipartPresignPartInput = ZArtifactRef.extend({ upload_id: ZUploadId, part_number: ZPartNumber });
export type TMultipartPresignPartInput = z.infer<typeof ZMultipartPresignPartInput>;

export const ZMultipartCompleteInput = ZArtifactRef.extend({
  upload_id: ZUploadId,
  size_bytes: ZSize,
  parts: z.array(z.object({ part_number: ZPartNumber, etag: z.string().min(1).max(200) })).min(1).max(10_000),
  idempotency_key: ZIdempotencyKey.optional(),
  signature: ZSignature.optional(),
  upload_duration_secs: ZUploadDuration.optional(),
});
export type TMultipartCompleteInput = z.infer<typeof ZMultipartCompleteInput>;

export const ZMultipartAbortInput = ZArtifactRef.extend({ upload_id: ZUploadId });
export type TMultipartAbortInput = z.infer<typeof ZMultipartAbortInput>;

// ---- listing ----

export const ZListArtifactsInput = z.object({
  app_name: ZAppName.optional(),
  status: z.enum(['pending', 'verifying', 'stored', 'failed', 'deleted']).optional(),
  limit: ZLimit(500, 50),
  /** Opaque cursor from the previous page's `next_cursor`. */
  cursor: z.string().max(200).optional(),
});
export type TListArtifactsInput = z.infer<typeof ZListArtifactsInput>;

export const ZArtifactMetaInput = z.object({ digest: ZDigest, app_name: ZAppName.optional() });

export const ZSetLimitsInput = z.object({
  app_name: ZAppName,
  /** null removes the override (the environment default applies again). */
  max_artifacts: z.number().int().min(0).max(1_000_000).nullable().optional(),
  max_total_bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  retain_latest: z.number().int().min(1).max(100_000).nullable().optional(),
});
export type TSetLimitsInput = z.infer<typeof ZSetLimitsInput>;

export const ZCreateDeploymentInput = ZArtifactRef;
export type TCreateDeploymentInput = z.infer<typeof ZCreateDeploymentInput>;

export const ZDeploymentRef = z.object({ id: z.uuid() });

export const ZListDeploymentsInput = z.object({ app_name: ZAppName, limit: ZLimit(200, 20) });

export const ZDeploymentEventsInput = z.object({ id: z.uuid(), after_id: z.coerce.number().int().nonnegative().default(0) });

export const ZWaitDeploymentInput = z.object({ id: z.uuid(), timeout_ms: ZWaitMs });
