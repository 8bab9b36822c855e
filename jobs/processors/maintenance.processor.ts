import type { Job } from 'bullmq';
import { QUEUE_DEFS, type JobPayload } from '../../server/queues/definitions';
import { enqueueRetention } from '../../server/queues/producers';
import type { Services } from '../../server/services/context';
import { collectStalePending } from '../../server/services/artifacts/pending-gc.service';
import { appsWithRetention, refreshArtifactsGauge } from '../../server/services/artifacts/retention.service';
import { purgeOldCliLogins } from '../../server/services/auth/cli-login.service';
import { refreshHealthFromRuntime } from '../../server/services/apps/health.service';
import { requeueInFlightWork } from '../../server/services/recovery.service';

/** Partial files are swept at most this often: walking every object is not a per-minute job. */
const PARTIALS_SWEEP_EVERY_MS = 3600_000;
/** A temp file idle this long belongs to an upload that died (a live one writes constantly). */
const PARTIAL_IDLE_MS = 3600_000;
let lastPartialsSweep = 0;

/**
 * The periodic sweep: in-flight work whose job is gone or gave up (an outage outlasted its
 * retries) re-queued, pending-upload GC, then a retention pass per app (a safety net for passes
 * a store could not queue, or that ran while the store landed), old CLI login rows, hourly the
 * fs driver's abandoned temp files, then the stored-artifacts gauge, last so it counts what the
 * GC left; on Kubernetes, then, the apps' health.
 */
export function maintenanceProcessor(svc: Services) {
  return async (job: Job<JobPayload<'maintenance'>>) => {
    QUEUE_DEFS.maintenance.payload.parse(job.data);
    // Its trouble (the database still away) must not cost the rest of the sweep.
    const requeued = await requeueInFlightWork(svc).catch((err: unknown) => {
      svc.log.warn('re-queuing in-flight work failed', { err });
      return null;
    });
    const gc = await collectStalePending(svc);
    const appIds = await appsWithRetention(svc);
    for (const appId of appIds) await enqueueRetention(svc.queues, { appId });
    const cliLoginsPurged = await purgeOldCliLogins(svc);
    let partialsRemoved = 0;
    if (svc.storage.sweepPartials && Date.now() - lastPartialsSweep >= PARTIALS_SWEEP_EVERY_MS) {
      lastPartialsSweep = Date.now();
      partialsRemoved = await svc.storage.sweepPartials(PARTIAL_IDLE_MS);
    }
    const stored = await refreshArtifactsGauge(svc);
    // The Kubernetes driver pushes no health reports: its pods' state is polled here.
    const healthChanged = svc.env.AETHER_RUNTIME === 'kubernetes' ? await refreshHealthFromRuntime(svc) : 0;
    return { requeued, healthChanged, pendingDeleted: gc.deleted, pendingFailed: gc.failed, retentionQueued: appIds.length, cliLoginsPurged, partialsRemoved, stored };
  };
}
