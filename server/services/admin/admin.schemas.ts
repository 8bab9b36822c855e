import { z } from 'zod';
import { ROLES } from '../../../db/schema/enums';
import { ZTokenTeams } from '../../contract/teams';
import { QUEUE_DEFS } from '../../queues/definitions';

/** Inputs and outputs of the admin procedures (queues, metrics, API tokens). */

export const QUEUE_NAMES = [QUEUE_DEFS.artifactVerify.name, QUEUE_DEFS.rollout.name, QUEUE_DEFS.retention.name, QUEUE_DEFS.maintenance.name, QUEUE_DEFS.secretsRekey.name] as const;
export const ZQueueName = z.enum(QUEUE_NAMES);
export type TQueueName = z.infer<typeof ZQueueName>;

/** The job states an admin can list (BullMQ's names; a paused queue keeps its jobs `waiting`). */
export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting-children'] as const;
export const ZJobState = z.enum(JOB_STATES);
export type TJobState = z.infer<typeof ZJobState>;

/** States `clean` may empty: never `active` (a worker holds those jobs' locks). */
export const ZCleanState = z.enum(['completed', 'failed', 'waiting', 'delayed', 'prioritized']);

export const ZQueueRef = z.object({ queue: ZQueueName });
export const ZJobRef = z.object({ queue: ZQueueName, job_id: z.string().min(1).max(200) });

export const ZListJobsInput = z.object({
  queue: ZQueueName,
  state: ZJobState.default('failed'),
  /** Matches an app name, a deployment/artifact/app id or a job id (substring, case-insensitive). */
  search: z.string().trim().max(100).optional(),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});
export type TListJobsInput = z.output<typeof ZListJobsInput>;

export const ZCleanInput = z.object({
  queue: ZQueueName,
  state: ZCleanState,
  /** Only jobs older than this are removed. */
  older_than_secs: z.coerce.number().int().min(0).max(30 * 24 * 3600).default(0),
});

export interface QueueSummary {
  name: TQueueName;
  paused: boolean;
  counts: Record<TJobState, number>;
}

/** One job in a list: enough to recognise it; the full record is `JobDetail`. */
export interface JobSummary {
  id: string;
  name: string;
  state: TJobState | 'unknown';
  /** What the job works on, resolved from its payload's ids. */
  subject: { kind: 'artifact' | 'deployment' | 'app' | 'none'; id: string | null; app_name: string | null };
  attempts_made: number;
  attempts_max: number;
  added_at: string | null;
  processed_at: string | null;
  finished_at: string | null;
  /** Redacted, first line only. */
  failed_reason: string | null;
}

export interface JobDetail extends JobSummary {
  queue: TQueueName;
  /** Redacted payload. */
  data: unknown;
  return_value: unknown;
  /** Redacted error and stack of each failed attempt, newest last. */
  failed_reason_full: string | null;
  stacktrace: string[];
  progress: unknown;
  logs: string[];
  delay_ms: number;
}

export interface JobPage {
  jobs: JobSummary[];
  /** Jobs in the state (whole queue), for pagination without a search. */
  total: number;
  /** With a search: how many of the newest jobs were looked through. */
  scanned: number | null;
  offset: number;
  limit: number;
}

// ---------------------------------------------------------------- metrics

export const ZMetricsRange = z.enum(['6h', '24h', '7d']);
export type TMetricsRange = z.infer<typeof ZMetricsRange>;
export const ZMetricsInput = z.object({ range: ZMetricsRange.default('24h') });

// ---------------------------------------------------------------- tokens

export const ZCreateTokenInput = z.object({
  // The name becomes the actor in the audit log and in terminals: no control or bidi characters.
  name: z.string().trim().min(1, 'give the token a name').max(100).regex(/^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u, 'the name must not contain control characters'),
  role: z.enum(ROLES),
  /** Days until it stops working; omitted: it never expires (revoke it instead). */
  expires_in_days: z.coerce.number().int().min(1).max(3650).optional(),
  /** The teams whose apps it may see and act on; omitted or null: every team. Not for admin tokens. */
  teams: ZTokenTeams.nullish(),
});
export type TCreateTokenInput = z.input<typeof ZCreateTokenInput>;

export const ZTokenRef = z.object({ id: z.uuid() });
