import { MetricsTime, Worker } from 'bullmq';
import { QUEUE_DEFS } from '../server/queues/definitions';
import { createRedis } from '../server/queues/connection';
import { enqueueSecretsRekey, scheduleMaintenance, scheduleSecretsRekey } from '../server/queues/producers';
import { refreshArtifactsGauge } from '../server/services/artifacts/retention.service';
import type { Services } from '../server/services/context';
import { restoreRunningDeployments } from '../server/services/deployments/rollout.service';
import { isOutageFailure } from '../server/outage';
import { requeueInFlightWork } from '../server/services/recovery.service';
import { artifactVerifyProcessor, onArtifactVerifyExhausted } from './processors/artifact-verify.processor';
import { maintenanceProcessor } from './processors/maintenance.processor';
import { retentionProcessor } from './processors/retention.processor';
import { rolloutProcessor } from './processors/rollout.processor';
import { secretsRekeyProcessor } from './processors/secrets-rekey.processor';

export interface RunningWorkers {
  /** Settles once the schedulers are upserted and a start-up rekey queued (or that failed and was logged). */
  ready: Promise<void>;
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * A live worker renews its job locks every lockDuration/2; a killed one stops, and its jobs
 * count as stalled (and run again elsewhere) once the lock expires and the next stall check
 * runs. AETHER_JOB_LOCK_SECS trades how fast that happens against tolerance of long GC pauses.
 */
function stallOptions(svc: Services) {
  const ms = svc.env.AETHER_JOB_LOCK_SECS * 1000;
  return { lockDuration: ms, stalledInterval: ms };
}

/** How often a re-encryption pass runs even without a rotation in progress (a safety net). */
const SECRETS_REKEY_EVERY_MS = 24 * 3600_000;

/** Per-minute completed/failed counts, kept a week: the admin dashboard's throughput charts. */
const JOB_METRICS = { metrics: { maxDataPoints: MetricsTime.ONE_WEEK } };

/**
 * Starts the BullMQ workers of this process. Each worker gets its own Redis connection
 * (BullMQ blocks on it), on the same prefix the producers use.
 */
export function startWorkers(svc: Services): RunningWorkers {
  const { REDIS_URL, AETHER_QUEUE_PREFIX: prefix } = svc.env;
  const connections = Array.from({ length: 5 }, () => createRedis(REDIS_URL));
  // Rollouts wait for it to listen before they report a URL (see the local driver).
  void listenRouter(svc);

  const verify = new Worker(QUEUE_DEFS.artifactVerify.name, artifactVerifyProcessor(svc), {
    connection: connections[0]!,
    prefix,
    // Verification is I/O bound (a HEAD, at most one streamed read): under a burst of completes
    // the queue wait, not the work, decides complete-to-stored latency, so take many at once.
    concurrency: 16,
    ...stallOptions(svc),
    ...JOB_METRICS,
  });
  verify.on('failed', (job, err) => {
    svc.log.warn('verify job failed', { jobId: job?.id, attempts: job?.attemptsMade, err });
    void onArtifactVerifyExhausted(svc)(job, err).catch((e: unknown) => svc.log.error('marking artifact failed', { err: e }));
  });

  const rollout = new Worker(QUEUE_DEFS.rollout.name, rolloutProcessor(svc), {
    connection: connections[1]!,
    prefix,
    // One rollout at a time: two rollouts of one app must never interleave their replace step.
    concurrency: 1,
    ...stallOptions(svc),
    ...JOB_METRICS,
  });
  rollout.on('failed', (job, err) => {
    // An outage is retried (then re-run by the sweep): no crash of ours.
    if (isOutageFailure(err.message)) svc.log.warn('rollout job waits for a dependency', { jobId: job?.id, attempts: job?.attemptsMade, err });
    else svc.log.error('rollout job crashed', { jobId: job?.id, err });
  });

  const retention = new Worker(QUEUE_DEFS.retention.name, retentionProcessor(svc), {
    connection: connections[2]!,
    prefix,
    // One pass at a time: passes of one app serialise on its row lock anyway, and a pass is
    // mostly storage deletes, which need not compete with verification for the store.
    concurrency: 1,
    ...stallOptions(svc),
    ...JOB_METRICS,
  });
  retention.on('failed', (job, err) => svc.log.warn('retention job failed', { jobId: job?.id, attempts: job?.attemptsMade, err }));

  const maintenance = new Worker(QUEUE_DEFS.maintenance.name, maintenanceProcessor(svc), {
    connection: connections[3]!,
    prefix,
    // One sweep at a time here; the scheduler keeps one sweep queued, and overlapping sweeps
    // from other processes are safe (row locks), only wasteful.
    concurrency: 1,
    ...stallOptions(svc),
    ...JOB_METRICS,
  });
  maintenance.on('failed', (job, err) => svc.log.warn('maintenance sweep failed', { jobId: job?.id, err }));

  const secretsRekey = new Worker(QUEUE_DEFS.secretsRekey.name, secretsRekeyProcessor(svc), {
    connection: connections[4]!,
    prefix,
    // Passes from several processes are safe (row locks) but redundant: one at a time here.
    concurrency: 1,
    ...stallOptions(svc),
    ...JOB_METRICS,
  });
  secretsRekey.on('failed', (job, err) => svc.log.error('secrets re-encryption failed', { jobId: job?.id, err }));

  // Every process upserts the same scheduler ids: one schedule however many workers run.
  const ready = Promise.all([
    scheduleMaintenance(svc.queues, svc.env.AETHER_PENDING_GC_INTERVAL_SECS * 1000).catch((err: unknown) =>
      svc.log.error('scheduling maintenance failed', { err }),
    ),
    scheduleSecretsRekey(svc.queues, SECRETS_REKEY_EVERY_MS).catch((err: unknown) => svc.log.error('scheduling secrets re-encryption failed', { err })),
    // A rotation in progress: move the old key's values now rather than within a day.
    svc.env.AETHER_SECRETS_KEY_PREVIOUS
      ? enqueueSecretsRekey(svc.queues).catch((err: unknown) => svc.log.error('queueing secrets re-encryption failed', { err }))
      : undefined,
  ]).then(() => undefined);

  for (const w of [verify, rollout, retention, maintenance, secretsRekey]) w.on('error', (err) => svc.log.error('worker error', { queue: w.name, err }));
  svc.log.info('workers started', { prefix });

  return {
    ready,
    async stop(timeoutMs = 10_000) {
      // The scheduler upsert shares the producers' connection: let it land before callers close it.
      const closing = Promise.all([ready, verify.close(), rollout.close(), retention.close(), maintenance.close(), secretsRekey.close()]);
      await Promise.race([closing, new Promise((r) => setTimeout(r, timeoutMs))]);
      for (const c of connections) c.disconnect();
      await svc.router?.close();
    },
  };
}

/**
 * Starts the local runtime's router. A port already taken must not stop the workers (no deploy
 * would ever run): it is logged in words naming the setting, and apps answer on their own ports.
 */
async function listenRouter(svc: Services): Promise<void> {
  if (!svc.router) return;
  await svc.router.listen().then(
    (address) => svc.log.info('router listening', address),
    (err: unknown) =>
      svc.log.error(
        `the router cannot listen on ${svc.env.AETHER_ROUTER_HOST}:${svc.env.AETHER_ROUTER_PORT} (in use? set AETHER_ROUTER_PORT): apps answer on their instance ports only`,
        { err },
      ),
  );
}

/** Process start: bring back what should run, re-queue what was in flight, then consume jobs. */
export async function startBackground(svc: Services): Promise<RunningWorkers> {
  // Apps answer behind the router: it listens before restore and rollouts report their URLs.
  await listenRouter(svc);
  await restoreRunningDeployments(svc).catch((err: unknown) => svc.log.error('restore failed', { err }));
  await requeueInFlightWork(svc).catch((err: unknown) => svc.log.error('re-queue failed', { err }));
  await refreshArtifactsGauge(svc).catch((err: unknown) => svc.log.error('artifacts gauge refresh failed', { err }));
  return startWorkers(svc);
}
