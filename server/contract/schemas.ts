import { z } from 'zod';
import { ZAppName } from './apps';
import { digestOfArtifactUrl, ZDigest } from './digest';
import { ZTeamName } from './teams';

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

export const ZCreateAppInput = z.object({ name: ZAppName, team: ZTeamName.optional() });
export type TCreateAppInput = z.infer<typeof ZCreateAppInput>;

export const ZArtifactRef = z.object({ app_name: ZAppName, digest: ZDigest });
export type TArtifactRef = z.infer<typeof ZArtifactRef>;

/**
 * Without `size_bytes` (the seed's body) the URL is not bound to a length, and the size and byte
 * quota are checked at complete, against what storage holds.
 */
export const ZPresignInput = ZArtifactRef.extend({ size_bytes: ZSize.optional() });
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

/** S3's largest part, and most parts of one upload. */
const MAX_PART_SIZE_BYTES = 5 * 1024 ** 3;
export const MAX_PARTS = 10_000;

const ZUploadId = z.string().min(1).max(1024);
const ZPartNumber = z.number().int().min(1).max(MAX_PARTS);

/** Most parts one batch presign hands out: URLs are for the next few PUTs, not for a queue. */
export const MAX_PRESIGN_BATCH = 64;
const ZPartNumbers = z
  .array(ZPartNumber)
  .min(1)
  .max(MAX_PRESIGN_BATCH)
  .refine((ns) => new Set(ns).size === ns.length, 'part_numbers must not repeat');

export const ZMultipartInitInput = ZArtifactRef.extend({
  size_bytes: ZSize,
  /** Parts to presign with the init (the first batch), saving the client a round trip. */
  presign_part_numbers: ZPartNumbers.optional(),
  /**
   * The size of every part but the last, when the client cuts the file evenly: the fs store then
   * writes parts in place and completes without copying them. Parts of other sizes still work.
   */
  part_size_bytes: z.number().int().positive().max(MAX_PART_SIZE_BYTES).optional(),
});
export type TMultipartInitInput = z.infer<typeof ZMultipartInitInput>;

export const ZMultipartPresignPartInput = ZArtifactRef.extend({ upload_id: ZUploadId, part_number: ZPartNumber });
export type TMultipartPresignPartInput = z.infer<typeof ZMultipartPresignPartInput>;

export const ZMultipartPresignPartsInput = ZArtifactRef.extend({ upload_id: ZUploadId, part_numbers: ZPartNumbers });
export type TMultipartPresignPartsInput = z.infer<typeof ZMultipartPresignPartsInput>;

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

/** The highest per-app instance cap an admin may set (AETHER_MAX_INSTANCES tops out there too). */
export const MAX_INSTANCES_CEILING = 1000;

export const ZSetLimitsInput = z.object({
  app_name: ZAppName,
  /** null removes the override (the environment default applies again). */
  max_artifacts: z.number().int().min(0).max(1_000_000).nullable().optional(),
  max_total_bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  retain_latest: z.number().int().min(1).max(100_000).nullable().optional(),
  /** Cap on a release's unpacked size; a larger one fails at unpack. */
  max_unpacked_bytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  /** Most instances `apps.scale` may ask for. */
  max_instances: z.number().int().min(1).max(MAX_INSTANCES_CEILING).nullable().optional(),
});
export type TSetLimitsInput = z.infer<typeof ZSetLimitsInput>;

/** `aether scale`: the count is checked against the app's max_instances by the service (quota_exceeded). */
export const ZScaleInput = z.object({ app_name: ZAppName, instances: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });
export type TScaleInput = z.infer<typeof ZScaleInput>;

export const ZCreateDeploymentInput = ZArtifactRef;
export type TCreateDeploymentInput = z.infer<typeof ZCreateDeploymentInput>;

/**
 * The seed's `POST /deployments` body: the artifact by `digest`, or by an `artifact_url` (its
 * storage key) that names one. `dev_hot` is accepted and has no effect here.
 */
export const ZSeedCreateDeploymentInput = z
  .object({
    app_name: ZAppName,
    digest: ZDigest.optional(),
    artifact_url: z.string().min(1).max(1024).optional(),
    signature: ZSignature.optional(),
    dev_hot: z.boolean().optional(),
  })
  .transform((input, ctx) => {
    const digest = input.digest ?? (input.artifact_url === undefined ? null : digestOfArtifactUrl(input.artifact_url));
    if (digest === null) {
      ctx.addIssue({ code: 'custom', path: ['digest'], message: 'give digest, or an artifact_url naming a 64-hex sha256 digest' });
      return z.NEVER;
    }
    return { app_name: input.app_name, digest, signature: input.signature };
  });
export type TSeedCreateDeploymentInput = z.output<typeof ZSeedCreateDeploymentInput>;

export const ZDeploymentRef = z.object({ id: z.uuid() });

/** The seed's `PATCH /deployments/{id}`: roll the deployment's app out to another stored digest. */
export const ZPatchDeploymentInput = z.object({ id: z.uuid(), digest: ZDigest });

/** The seed's `GET /deployments`: every deployment the caller sees, or one app's. */
export const ZListAllDeploymentsInput = z.object({
  app_name: ZAppName.optional(),
  limit: ZLimit(1000, 100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const ZListDeploymentsInput = z.object({ app_name: ZAppName, limit: ZLimit(200, 20) });

export const ZDeploymentEventsInput = z.object({ id: z.uuid(), after_id: z.coerce.number().int().nonnegative().default(0) });

export const ZWaitDeploymentInput = z.object({ id: z.uuid(), timeout_ms: ZWaitMs });

/** `aether rollback`: an earlier deployment of the app runs again; default: the one before the current. */
export const ZRollbackInput = z.object({ app_name: ZAppName, to: z.uuid().optional() });
export type TRollbackInput = z.infer<typeof ZRollbackInput>;

const SINCE_UNIT_SECS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * `since`: seconds (`300`), a duration (`5m`, `2h`, `1d`) or an RFC 3339 time; parsed to the
 * number of seconds back from now (0 for a time in the future).
 */
export const ZLogSince = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const s = String(v).trim();
  const duration = /^(\d{1,9})([smhd]?)$/.exec(s);
  if (duration) return Number(duration[1]) * SINCE_UNIT_SECS[(duration[2] || 's') as keyof typeof SINCE_UNIT_SECS];
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const t = Date.parse(s);
    if (!Number.isNaN(t)) return Math.max(0, Math.ceil((Date.now() - t) / 1000));
  }
  ctx.addIssue({ code: 'custom', message: 'since must be seconds, a duration like 5m / 2h / 1d, or an RFC 3339 time' });
  return z.NEVER;
});

const ZFlag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).transform((v) => v === true || v === 'true' || v === '1');

/** An app's output: REST `GET /apps/{app}/logs` (query string) and the `deployments.logs` subscription. */
export const ZLogsInput = z.object({
  app_name: ZAppName,
  /** A specific deployment, also one that was replaced; default: the running one, else the latest. */
  deployment: z.uuid().optional(),
  tail: z.coerce.number().int().min(0).max(10_000).default(100),
  follow: ZFlag.default(false),
  since: ZLogSince.optional(),
  /** Kubernetes container name; the local runtime has one, `app`. */
  container: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'container must be a DNS label').optional(),
  /** Only one instance's lines: '0'..'999' on the local runtime, a pod name on Kubernetes. */
  instance: z
    .string()
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'instance must be an instance number or a pod name')
    .optional(),
});
export type TLogsInput = z.infer<typeof ZLogsInput>;

/**
 * A logs query string as {@link ZLogsInput} reads it: the seed's CLI says `tail_lines`, ours
 * `tail`. Both with different values is refused rather than guessed.
 */
export function logsQueryOf(params: Record<string, string>): Record<string, string> {
  const { tail_lines: tailLines, ...rest } = params;
  if (tailLines === undefined) return rest;
  if (rest.tail !== undefined && rest.tail !== tailLines) return { ...rest, tail: 'tail and tail_lines differ' };
  return { ...rest, tail: tailLines };
}
