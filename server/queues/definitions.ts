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
} as const;

export type QueueKey = keyof typeof QUEUE_DEFS;
export type JobPayload<K extends QueueKey> = z.output<(typeof QUEUE_DEFS)[K]['payload']>;
export type JobName<K extends QueueKey> = (typeof QUEUE_DEFS)[K]['jobName'];
