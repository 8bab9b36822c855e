import type { Job, Queue } from 'bullmq';
import { AppError, isAppError, notFound } from '../../errors';
import { QUEUE_DEFS } from '../../queues/definitions';
import type { Services } from '../context';
import type { z } from 'zod';
import { JOB_STATES, type ZCleanState, QUEUE_NAMES, type JobDetail, type JobPage, type JobSummary, type QueueSummary, type TJobState, type TListJobsInput, type TQueueName } from './admin.schemas';
import { redactSecrets, redactText } from './redact';
import { resolveSubjects, subjectIdsOf } from './job-subjects';

type QueueServices = Pick<Services, 'db' | 'queues' | 'log'>;

/** With a search, this many of the newest jobs in the state are looked through. */
export const SEARCH_SCAN_LIMIT = 1000;

const KEY_BY_NAME = Object.fromEntries(Object.entries(QUEUE_DEFS).map(([key, def]) => [def.name, key])) as Record<TQueueName, keyof typeof QUEUE_DEFS>;

/** Admin operations work on any queue alike, so the typed queue is seen through its untyped face. */
function queueOf(svc: QueueServices, name: TQueueName): Queue {
  return svc.queues[KEY_BY_NAME[name]] as unknown as Queue;
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

export async function listQueueSummaries(svc: QueueServices): Promise<QueueSummary[]> {
  return Promise.all(
    QUEUE_NAMES.map(async (name) => {
      const queue = queueOf(svc, name);
      const [counts, paused] = await Promise.all([queue.getJobCounts(...JOB_STATES), queue.isPaused()]);
      return { name, paused, counts: Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])) as Record<TJobState, number> };
    }),
  );
}

async function summarise(svc: QueueServices, jobs: Job[], state: TJobState | null): Promise<JobSummary[]> {
  const subjects = await resolveSubjects(svc.db, jobs.map((j) => subjectIdsOf(j.data)));
  return Promise.all(
    jobs.map(async (job, i) => ({
      id: job.id ?? '',
      name: job.name,
      state: state ?? ((await job.getState()) as TJobState | 'unknown'),
      subject: subjects[i]!,
      attempts_made: job.attemptsMade,
      attempts_max: job.opts.attempts ?? 1,
      added_at: iso(job.timestamp),
      processed_at: iso(job.processedOn),
      finished_at: iso(job.finishedOn),
      failed_reason: job.failedReason ? redactText(job.failedReason.split('\n', 1)[0]!).slice(0, 300) : null,
    })),
  );
}

function matches(job: JobSummary, needle: string): boolean {
  return [job.id, job.subject.id, job.subject.app_name].some((v) => v !== null && v.toLowerCase().includes(needle));
}

/**
 * Jobs of one state, newest first. Without a search BullMQ pages the state's set directly;
 * payloads hold ids only, so a search by app name resolves the newest SEARCH_SCAN_LIMIT jobs'
 * subjects and filters those (the page says how many were scanned).
 */
export async function listJobs(svc: QueueServices, input: TListJobsInput): Promise<JobPage> {
  const queue = queueOf(svc, input.queue);
  const total = await queue.getJobCountByTypes(input.state);
  const needle = input.search?.toLowerCase();
  if (!needle) {
    const jobs = (await queue.getJobs([input.state], input.offset, input.offset + input.limit - 1)).filter(Boolean) as Job[];
    return { jobs: await summarise(svc, jobs, input.state), total, scanned: null, offset: input.offset, limit: input.limit };
  }
  const scanned = (await queue.getJobs([input.state], 0, SEARCH_SCAN_LIMIT - 1)).filter(Boolean) as Job[];
  const found = (await summarise(svc, scanned, input.state)).filter((j) => matches(j, needle));
  return { jobs: found.slice(input.offset, input.offset + input.limit), total: found.length, scanned: scanned.length, offset: input.offset, limit: input.limit };
}

async function getJobOrThrow(svc: QueueServices, name: TQueueName, jobId: string): Promise<Job> {
  const job = await queueOf(svc, name).getJob(jobId);
  if (!job) throw notFound(`job ${jobId} in queue ${name}`);
  return job;
}

/** One job with everything an admin needs to judge it, secrets redacted. */
export async function getJobDetail(svc: QueueServices, name: TQueueName, jobId: string): Promise<JobDetail> {
  const job = await getJobOrThrow(svc, name, jobId);
  const [[summary], logs] = await Promise.all([summarise(svc, [job], null), queueOf(svc, name).getJobLogs(jobId, 0, 99, true)]);
  return {
    ...summary!,
    queue: name,
    data: redactSecrets(job.data),
    return_value: redactSecrets(job.returnvalue ?? null),
    failed_reason_full: job.failedReason ? redactText(job.failedReason) : null,
    stacktrace: (job.stacktrace ?? []).map((s) => redactText(s)),
    progress: redactSecrets(job.progress),
    logs: logs.logs.map((l) => redactText(l)),
    delay_ms: job.delay,
  };
}

/** BullMQ refuses to move a locked or already-moved job; that is a conflict, not a crash. */
async function asConflict<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isAppError(err)) throw err;
    throw new AppError('conflict', `${what}: ${err instanceof Error ? redactText(err.message) : 'refused by the queue'}`);
  }
}

export async function retryJob(svc: QueueServices, name: TQueueName, jobId: string): Promise<{ state: string }> {
  const job = await getJobOrThrow(svc, name, jobId);
  const state = await job.getState();
  if (state !== 'failed') throw new AppError('conflict', `job ${jobId} is ${state}; only failed jobs can be retried`);
  await asConflict(`job ${jobId} could not be retried`, () => job.retry('failed'));
  svc.log.info('admin retried job', { queue: name, jobId });
  return { state: await job.getState() };
}

export async function retryAllFailed(svc: QueueServices, name: TQueueName): Promise<{ retried: number }> {
  const queue = queueOf(svc, name);
  const failed = await queue.getJobCountByTypes('failed');
  // retryJobs moves them in batches of `count` until none is left.
  if (failed > 0) await queue.retryJobs({ state: 'failed', count: 500 });
  svc.log.info('admin retried all failed jobs', { queue: name, failed });
  return { retried: failed };
}

/**
 * A queued rollout or verification is the only thing that moves its deployment or artifact on:
 * removing it before it ran would leave that row pending or verifying for good.
 */
const QUEUES_OWNING_ROW_PROGRESS: ReadonlySet<TQueueName> = new Set<TQueueName>(['rollout', 'artifact-verify']);
const UNFINISHED_STATES = new Set(['waiting', 'wait', 'delayed', 'prioritized', 'waiting-children']);

function assertRemovable(name: TQueueName, state: string, what: string): void {
  if (QUEUES_OWNING_ROW_PROGRESS.has(name) && UNFINISHED_STATES.has(state)) {
    throw new AppError('conflict', `${what} ${state} on ${name}: removing it would leave its ${name === 'rollout' ? 'deployment' : 'artifact'} stuck; let it run, or pause the queue`);
  }
}

export async function removeJob(svc: QueueServices, name: TQueueName, jobId: string): Promise<{ removed: true }> {
  const job = await getJobOrThrow(svc, name, jobId);
  const state = await job.getState();
  if (state === 'active') throw new AppError('conflict', `job ${jobId} is running; wait for it to finish before removing it`);
  assertRemovable(name, state, `job ${jobId} is`);
  await asConflict(`job ${jobId} could not be removed`, () => job.remove());
  svc.log.info('admin removed job', { queue: name, jobId, state });
  return { removed: true };
}

export async function cleanQueue(svc: QueueServices, name: TQueueName, state: z.output<typeof ZCleanState>, olderThanSecs: number): Promise<{ removed: number }> {
  assertRemovable(name, state, 'cannot clean jobs');
  // A limit of 0 means "all of them" to BullMQ's clean script.
  const ids = await queueOf(svc, name).clean(olderThanSecs * 1000, 0, state === 'waiting' ? 'wait' : state);
  svc.log.info('admin cleaned queue', { queue: name, state, removed: ids.length });
  return { removed: ids.length };
}

export async function setQueuePaused(svc: QueueServices, name: TQueueName, paused: boolean): Promise<{ paused: boolean }> {
  const queue = queueOf(svc, name);
  await (paused ? queue.pause() : queue.resume());
  svc.log.info(paused ? 'admin paused queue' : 'admin resumed queue', { queue: name });
  return { paused: await queue.isPaused() };
}
