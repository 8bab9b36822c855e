import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { isOutageFailure } from '../outage';
import { LIFECYCLE_JOB, QUEUE_DEFS, type JobName, type JobPayload, type LifecyclePayload, type QueueKey } from './definitions';

export type TypedQueue<K extends QueueKey> = Queue<JobPayload<K>, unknown, JobName<K>>;

/** The rollout queue also carries lifecycle jobs (scale, restart), serialised with rollouts. */
export type RolloutQueue = Queue<JobPayload<'rollout'> | LifecyclePayload, unknown, JobName<'rollout'> | typeof LIFECYCLE_JOB.jobName>;

export interface Queues {
  prefix: string;
  artifactVerify: TypedQueue<'artifactVerify'>;
  rollout: RolloutQueue;
  retention: TypedQueue<'retention'>;
  maintenance: TypedQueue<'maintenance'>;
  secretsRekey: TypedQueue<'secretsRekey'>;
  /** Round trip to Redis, for readiness. */
  ping(): Promise<unknown>;
  close(): Promise<void>;
}

// Failed jobs stay for inspection; finished ones are trimmed so Redis does not grow forever.
const DEFAULT_JOB_OPTIONS = {
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
};

export function createQueues(connection: Redis, prefix: string): Queues {
  const make = <K extends QueueKey>(key: K) =>
    new Queue<JobPayload<K>, unknown, JobName<K>>(QUEUE_DEFS[key].name, {
      connection,
      prefix,
      defaultJobOptions: DEFAULT_JOB_OPTIONS,
    });
  const artifactVerify = make('artifactVerify');
  const rollout = make('rollout') as unknown as RolloutQueue;
  const retention = make('retention');
  const maintenance = make('maintenance');
  const secretsRekey = make('secretsRekey');
  return {
    prefix,
    artifactVerify,
    rollout,
    retention,
    maintenance,
    secretsRekey,
    ping: () => connection.ping(),
    close: async () => {
      await Promise.all([artifactVerify.close(), rollout.close(), retention.close(), maintenance.close(), secretsRekey.close()]);
    },
  };
}

const verifyJobId = (artifactId: string) => `verify-${artifactId}`;
const rolloutJobId = (deploymentId: string) => `rollout-${deploymentId}`;

/**
 * Job ids are derived from the entity, so enqueuing twice (a retried complete, a restart
 * that re-enqueues) never runs the same work twice concurrently.
 */
export async function enqueueArtifactVerify(queues: Queues, payload: JobPayload<'artifactVerify'>): Promise<void> {
  const data = QUEUE_DEFS.artifactVerify.payload.parse(payload);
  await queues.artifactVerify.add(QUEUE_DEFS.artifactVerify.jobName, data, {
    jobId: verifyJobId(data.artifactId),
    attempts: 5,
    backoff: { type: 'exponential', delay: 500 },
  });
}

export async function enqueueRollout(queues: Queues, payload: JobPayload<'rollout'>): Promise<void> {
  const data = QUEUE_DEFS.rollout.payload.parse(payload);
  // A failed rollout is the deployment's outcome, recorded by a job that completes. The job
  // itself fails only when the database or the queue could not record one (an outage): then it
  // is retried, and resumes the rollout (about 30 s of retries; the maintenance sweep does the rest).
  await queues.rollout.add(QUEUE_DEFS.rollout.jobName, data, {
    jobId: rolloutJobId(data.deploymentId),
    attempts: 6,
    backoff: { type: 'exponential', delay: 1000 },
  });
}

/** What re-queuing the job of in-flight work did. */
export type Requeued =
  | { outcome: 'queued' }
  /** Waiting, delayed or running: left alone. */
  | { outcome: 'busy' }
  /** It failed for good (a bug, or an outage outlasting every re-run): its entity must settle as failed. */
  | { outcome: 'gave_up'; reason: string };

/** BullMQ's reason for a job whose worker died (lost its lock) more often than allowed. */
const STALLED_REASON = 'job stalled more than allowable limit';
/**
 * Re-runs of a job that failed on an outage or a lost worker: one per maintenance sweep (its
 * attempts spent, each re-run is a single attempt), about half an hour at the default period.
 */
const MAX_RERUNS = 30;

/**
 * For the work the database says is in flight: queues its job when there is none (Redis lost
 * it), runs it again when it finished or failed on an outage or a lost worker, and leaves a
 * waiting, delayed or running one alone.
 */
export async function requeueArtifactVerify(queues: Queues, payload: JobPayload<'artifactVerify'>): Promise<Requeued> {
  return addOrRerun(queues.artifactVerify, verifyJobId(payload.artifactId), () => enqueueArtifactVerify(queues, payload));
}

export async function requeueRollout(queues: Queues, payload: JobPayload<'rollout'>): Promise<Requeued> {
  return addOrRerun(queues.rollout, rolloutJobId(payload.deploymentId), () => enqueueRollout(queues, payload));
}

async function addOrRerun(queue: Pick<Queue, 'getJob'>, jobId: string, add: () => Promise<void>): Promise<Requeued> {
  const job = await queue.getJob(jobId);
  if (!job) {
    await add();
    return { outcome: 'queued' };
  }
  const state = await job.getState();
  if (state !== 'completed' && state !== 'failed') return { outcome: 'busy' };
  const reason = job.failedReason ?? '';
  const transient = isOutageFailure(reason) || reason === STALLED_REASON;
  if (state === 'failed' && (!transient || job.attemptsMade >= (job.opts.attempts ?? 1) + MAX_RERUNS)) {
    return { outcome: 'gave_up', reason: reason || 'its job failed' };
  }
  try {
    // Both jobs are re-entrant: a run that finds its entity settled does nothing. Attempts are
    // not reset, so each re-run counts (MAX_RERUNS).
    await job.retry(state);
    return { outcome: 'queued' };
  } catch (err) {
    // Gone or moved since it was read (trimmed, or another process re-ran it first): nothing to do.
    if ((await queue.getJob(jobId).then((j) => j?.getState())) === state) throw err;
    return { outcome: 'busy' };
  }
}

/**
 * Queues a scale or restart of the app. Each request is a job of its own (a fresh id): one
 * arriving while another runs must not be swallowed; a scale job re-reads the desired count,
 * so an extra one costs a no-op.
 */
export async function enqueueLifecycle(queues: Queues, payload: LifecyclePayload): Promise<void> {
  const data = LIFECYCLE_JOB.payload.parse(payload);
  // One attempt, like a rollout: a failure is recorded as the app's event, not retried blindly.
  await queues.rollout.add(LIFECYCLE_JOB.jobName, data, { jobId: `${data.action}-${data.appId}-${randomUUID()}`, attempts: 1 });
}

/**
 * Queues a retention pass for one app. The job id dedupes while a pass is waiting; it is
 * removed as soon as the job finishes (either way), so a later store queues a fresh pass
 * instead of being swallowed by a finished job's id. A store that lands while a pass is
 * running is picked up by the next maintenance sweep.
 */
export async function enqueueRetention(queues: Queues, payload: JobPayload<'retention'>): Promise<void> {
  const data = QUEUE_DEFS.retention.payload.parse(payload);
  await queues.retention.add(QUEUE_DEFS.retention.jobName, data, {
    jobId: `retention-${data.appId}`,
    // Storage deletes can fail transiently; the pass is idempotent, so retrying is safe.
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: true,
    removeOnFail: true,
  });
}

/**
 * Creates or updates the maintenance job scheduler (one id for the whole deployment: every
 * process upserting it shares one schedule). BullMQ runs the first sweep right away.
 */
export async function scheduleMaintenance(queues: Queues, everyMs: number): Promise<void> {
  const def = QUEUE_DEFS.maintenance;
  // bullmq 6.7 types the scheduler id with the queue's job-name type; ours is a separate id.
  const schedulerId = def.schedulerId as unknown as JobName<'maintenance'>;
  await queues.maintenance.upsertJobScheduler(schedulerId, { every: everyMs }, {
    name: def.jobName,
    data: {},
    // Each sweep is replaced by the next one: keep only a few failures to look at.
    opts: { removeOnComplete: true, removeOnFail: { count: 20 }, attempts: 1 },
  });
}

/**
 * Queues a re-encryption pass now (a worker started with AETHER_SECRETS_KEY_PREVIOUS). The job id
 * dedupes while one waits, and is dropped once it finishes, so the next start queues afresh.
 */
export async function enqueueSecretsRekey(queues: Queues): Promise<void> {
  const def = QUEUE_DEFS.secretsRekey;
  await queues.secretsRekey.add(def.jobName, def.payload.parse({}), {
    jobId: 'secrets-rekey-now',
    // A pass is idempotent and resumes where the last one stopped: retrying is safe.
    attempts: 3,
    backoff: { type: 'exponential', delay: 5000 },
    removeOnComplete: true,
    // A failed pass is logged by the worker; keeping it would swallow the next start's job id.
    removeOnFail: true,
  });
}

/** The daily re-encryption pass: one scheduler id for the whole deployment, like maintenance. */
export async function scheduleSecretsRekey(queues: Queues, everyMs: number): Promise<void> {
  const def = QUEUE_DEFS.secretsRekey;
  const schedulerId = def.schedulerId as unknown as JobName<'secretsRekey'>;
  await queues.secretsRekey.upsertJobScheduler(schedulerId, { every: everyMs }, {
    name: def.jobName,
    data: {},
    opts: { removeOnComplete: true, removeOnFail: { count: 20 }, attempts: 1 },
  });
}
