import { z } from 'zod';

/**
 * Typed job contracts: each queue has one job name and one payload schema. Payloads carry ids
 * only, never secrets or URLs; processors load the rest from the database.
 */
export const QUEUE_DEFS = {
  artifactVerify: {
    name: 'artifact-verify',
    jobName: 'artifact.verify',
    payload: z.object({ artifactId: z.uuid() }),
  },
  rollout: {
    name: 'rollout',
    jobName: 'deployment.rollout',
    payload: z.object({ deploymentId: z.uuid() }),
  },
  /** Keep-latest-N retention of one app's stored artifacts; idempotent, so re-runs are cheap. */
  retention: {
    name: 'retention',
    jobName: 'artifact.retention',
    payload: z.object({ appId: z.uuid() }),
  },
  /**
   * Periodic sweep (pending-upload GC, a retention pass per app, gauge refresh). Run by a job
   * scheduler with a fixed id, so every process that upserts it shares one schedule.
   */
  maintenance: {
    name: 'maintenance',
    jobName: 'maintenance.sweep',
    schedulerId: 'pending-gc',
    payload: z.object({}),
  },
  /**
   * Re-encrypts config secrets still sealed under an older key (after a key rotation). Runs at
   * worker start while AETHER_SECRETS_KEY_PREVIOUS is set, and daily; idempotent. No payload:
   * the keys come from the worker's own environment.
   */
  secretsRekey: {
    name: 'secrets-rekey',
    jobName: 'secrets.rekey',
    schedulerId: 'secrets-rekey-daily',
    payload: z.object({}),
  },
} as const;

/**
 * Scale or restart of an app's current release. A second job name on the rollout queue (one
 * job at a time), so it never interleaves with a rollout of the same app. The job reads the
 * desired count from the app row: the payload carries ids and the verb only.
 */
export const LIFECYCLE_JOB = {
  jobName: 'app.lifecycle',
  payload: z.object({ appId: z.uuid(), action: z.enum(['scale', 'restart']) }),
} as const;
export type LifecyclePayload = z.output<typeof LIFECYCLE_JOB.payload>;

export type QueueKey = keyof typeof QUEUE_DEFS;
export type JobPayload<K extends QueueKey> = z.output<(typeof QUEUE_DEFS)[K]['payload']>;
export type JobName<K extends QueueKey> = (typeof QUEUE_DEFS)[K]['jobName'];
