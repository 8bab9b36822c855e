import { z } from 'zod';
// The status vocabularies live with the schema's CHECK constraints (pure constants).
import { ARTIFACT_STATUSES, DEPLOYMENT_STATUSES, ROLES } from '../../db/schema/enums';

/** What clients receive: documented by OpenAPI, checked by tRPC. Dates are ISO strings. */

const ZTime = z.iso.datetime();

/** How an app's instances are doing, apart from its deployment's status (the runtime port's APP_HEALTH_STATES). */
export const APP_HEALTH = ['healthy', 'degraded', 'restarting', 'crash_loop', 'stopped'] as const;

export const ZApp = z.object({
  id: z.uuid(),
  name: z.string(),
  owner: z.string(),
  team: z.string(),
  created_at: ZTime,
  /** Where the app answers: its running release's stable address; null while nothing runs. */
  url: z.string().nullable(),
  /** How many instances should run (0: stopped). */
  instances: z.number().int(),
  /** null before the runtime reported anything. */
  health: z.enum(APP_HEALTH).nullable(),
  health_message: z.string().nullable(),
});
export type TApp = z.infer<typeof ZApp>;

export const ZArtifact = z.object({
  artifact_id: z.uuid(),
  app_name: z.string(),
  digest: z.string(),
  size_bytes: z.number().int(),
  status: z.enum(ARTIFACT_STATUSES),
  verified: z.boolean(),
  failure_reason: z.string().nullable(),
  storage_key: z.string(),
  created_at: ZTime,
  stored_at: ZTime.nullable(),
});
export type TArtifact = z.infer<typeof ZArtifact>;

export const ZDeployment = z.object({
  id: z.uuid(),
  app_name: z.string(),
  digest: z.string(),
  status: z.enum(DEPLOYMENT_STATUSES),
  failure_reason: z.string().nullable(),
  url: z.string().nullable(),
  created_by: z.string(),
  created_at: ZTime,
  last_transition_at: ZTime,
  rollout_completed_at: ZTime.nullable(),
  /** On a rollback: the earlier deployment whose artifact this one runs again. */
  rollback_of: z.uuid().nullable(),
});
export type TDeployment = z.infer<typeof ZDeployment>;

export const ZDeploymentEvent = z.object({
  id: z.number().int(),
  phase: z.string(),
  message: z.string(),
  duration_ms: z.number().int().nullable(),
  created_at: ZTime,
});
export type TDeploymentEvent = z.infer<typeof ZDeploymentEvent>;

export const ZAppSummary = ZApp.extend({
  /** The deployment serving now, if any. */
  current: ZDeployment.nullable(),
  /** The most recent deployment, whatever its status (may equal `current`). */
  latest: ZDeployment.nullable(),
});
export type TAppSummary = z.infer<typeof ZAppSummary>;

/** `method: NONE` means nothing to upload: the bytes are stored already, or being verified. */
export const ZPresignResult = z.object({
  method: z.enum(['PUT', 'NONE']),
  upload_url: z.string(),
  headers: z.record(z.string(), z.string()),
  storage_key: z.string(),
  expires_at: ZTime.nullable(),
  artifact: ZArtifact,
});
export type TPresignResult = z.infer<typeof ZPresignResult>;

export const ZCompleteResult = z.object({
  artifact_id: z.uuid(),
  digest: z.string(),
  /** True when the digest was already stored before this call. */
  duplicate: z.boolean(),
  verified: z.boolean(),
  storage_key: z.string(),
  status: z.enum(ARTIFACT_STATUSES),
  idempotency_key: z.string().nullable(),
});
export type TCompleteResult = z.infer<typeof ZCompleteResult>;

export const ZCreateDeploymentResult = z.object({
  deployment: ZDeployment,
  /** False when an in-flight deployment of the same app + digest was returned instead. */
  created: z.boolean(),
});
export type TCreateDeploymentResult = z.infer<typeof ZCreateDeploymentResult>;

/** The seed's answer to `POST /deployments`: 201 `{id, status}` (tRPC's `create` answers more). */
export const ZSeedCreateDeploymentResult = z.object({ id: z.uuid(), status: z.enum(DEPLOYMENT_STATUSES) });

/** `teams`: the only teams whose apps the caller sees; null: every team. */
export const ZWhoami = z.object({ name: z.string(), role: z.enum(ROLES), teams: z.array(z.string()).nullable() });

const ZLimitSet = z.object({
  max_artifacts: z.number().int().nullable(),
  max_total_bytes: z.number().int().nullable(),
  retain_latest: z.number().int().nullable(),
  /** Most bytes a release may unpack to (effective: always set). */
  max_unpacked_bytes: z.number().int().nullable(),
  /** Most instances the app may scale to (effective: always set). */
  max_instances: z.number().int().nullable(),
});

export const ZAppLimits = z.object({
  app_name: z.string(),
  overrides: ZLimitSet,
  effective: ZLimitSet,
  /** What holds quota: stored, verifying, and pending uploads (until completed, refused or collected). */
  usage: z.object({ artifacts: z.number().int(), bytes: z.number().int() }),
});

export const ZArtifactPage = z.object({ items: z.array(ZArtifact), next_cursor: z.string().nullable() });

export const ZPresignedPart = z.object({ url: z.string(), method: z.literal('PUT'), headers: z.record(z.string(), z.string()) });
export const ZPresignedParts = z.object({
  parts: z.array(ZPresignedPart.extend({ part_number: z.number().int() })),
  /** When the URLs stop working: a client re-presigns a part it has not sent by then. */
  expires_at: z.string(),
});

/** `presigned`: the parts asked for with `presign_part_numbers`, as multipartPresignParts answers. */
export const ZMultipartInitResult = z.object({ upload_id: z.string(), storage_key: z.string(), presigned: ZPresignedParts.optional() });
export type TPresignedParts = z.infer<typeof ZPresignedParts>;
export type TMultipartInitResult = z.infer<typeof ZMultipartInitResult>;

/** One line of an app's output (`deployments.logs`, `GET /apps/{app}/logs` as NDJSON). */
export const ZLogEntry = z.object({
  /** When the line was written (ISO-8601); null where the runtime kept no time for it. */
  time: ZTime.nullable(),
  /** `app` (`app:stderr`) on the local runtime; `<pod>/<container>` on Kubernetes. */
  source: z.string(),
  line: z.string(),
  /** The instance that wrote it: '0', '1'... on the local runtime, the pod on Kubernetes. */
  instance: z.string().optional(),
});
export type TLogEntry = z.infer<typeof ZLogEntry>;
