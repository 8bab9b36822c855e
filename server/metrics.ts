import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one metrics registry. Next.js bundles route handlers separately, so a module-level
 * registry could exist once per bundle and /metrics would miss what tRPC counted: it lives
 * on globalThis instead. All series are registered eagerly so they show from the first scrape.
 */
function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    trpcRequests: new Counter({
      name: 'aether_trpc_requests_total',
      help: 'tRPC procedure calls by procedure and outcome code',
      labelNames: ['procedure', 'code'] as const,
      registers: [registry],
    }),
    appsCreated: new Counter({ name: 'aether_apps_created_total', help: 'Applications created', registers: [registry] }),
    tokenCacheLookups: new Counter({
      name: 'aether_token_cache_lookups_total',
      help: 'Database token lookups by cache outcome (bypass: the revocation feed was down)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),

    // ---- the seed's HTTP and deployment metrics: its names and label sets, no per-app labels ----
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route template (never the raw path)',
      labelNames: ['method', 'path', 'status', 'outcome'] as const,
      registers: [registry],
    }),
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request (to its headers, for a stream)',
      labelNames: ['method', 'path'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    deploymentStatus: new Counter({
      name: 'deployment_status_total',
      help: 'Deployments entering each status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    deploymentTimeToRunning: new Histogram({
      name: 'deployment_time_to_running_seconds',
      help: 'From a deployment created to running',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    deploymentsRunning: new Gauge({ name: 'deployments_running_total', help: 'Deployments running (as of the last rollout)', registers: [registry] }),
    artifactVerifyFailures: new Counter({
      name: 'artifact_verify_failure_total',
      help: 'Artifacts refused by verification, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),

    // ---- the seed's artifact metrics (readme 4.6 and 4.9): exact names, no per-app labels ----
    artifactPresigns: new Counter({ name: 'artifact_presign_requests_total', help: 'Presign attempts', registers: [registry] }),
    artifactPresignFailures: new Counter({ name: 'artifact_presign_failures_total', help: 'Presign errors (storage backend failures)', registers: [registry] }),
    artifactCompleteFailures: new Counter({ name: 'artifact_complete_failures_total', help: 'Completes that failed on the server side', registers: [registry] }),
    artifactUploadBytes: new Counter({ name: 'artifact_upload_bytes_total', help: 'Bytes persisted by the legacy direct upload', registers: [registry] }),
    artifactDigestMismatches: new Counter({ name: 'artifact_digest_mismatch_total', help: 'Remote metadata or hash mismatches found by verification', registers: [registry] }),
    artifactSizeExceeded: new Counter({ name: 'artifact_size_exceeded_total', help: 'Rejected for the per-object size limit', registers: [registry] }),
    artifactPendingGcRuns: new Counter({ name: 'artifact_pending_gc_runs_total', help: 'Pending-upload GC runs', registers: [registry] }),
    artifactPendingGcDeleted: new Counter({ name: 'artifact_pending_gc_deleted_total', help: 'Stale pending uploads removed', registers: [registry] }),
    artifactEvents: new Counter({ name: 'artifact_events_total', help: 'Artifact audit events written', registers: [registry] }),
    artifactLegacyUploads: new Counter({ name: 'artifact_legacy_upload_requests_total', help: 'Requests to the deprecated POST /artifacts', registers: [registry] }),
    artifactMultipartInits: new Counter({ name: 'artifact_multipart_inits_total', help: 'Multipart upload sessions started', registers: [registry] }),
    artifactMultipartPartPresigns: new Counter({ name: 'artifact_multipart_part_presigns_total', help: 'Part presign calls', registers: [registry] }),
    artifactMultipartCompletes: new Counter({ name: 'artifact_multipart_completes_total', help: 'Successful multipart completes', registers: [registry] }),
    artifactMultipartCompleteFailures: new Counter({ name: 'artifact_multipart_complete_failures_total', help: 'Multipart completes that failed', registers: [registry] }),
    artifactQuotaExceeded: new Counter({ name: 'artifact_quota_exceeded_total', help: 'Quota rejections', registers: [registry] }),
    artifactRetentionDeleted: new Counter({ name: 'aether_artifact_retention_deleted_total', help: 'Artifacts deleted by retention', registers: [registry] }),
    artifactUploadsInProgress: new Gauge({ name: 'artifact_uploads_in_progress', help: 'Legacy direct uploads in flight', registers: [registry] }),
    artifactsTotal: new Gauge({ name: 'artifacts_total', help: 'Stored artifacts (refreshed by the control plane)', registers: [registry] }),
    artifactUploadDuration: new Histogram({
      name: 'artifact_upload_duration_seconds',
      help: 'Legacy direct upload wall time',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    artifactPutDuration: new Histogram({
      name: 'artifact_put_duration_seconds',
      help: 'Client-reported PUT transfer duration (two-phase and multipart)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    artifactCompleteDuration: new Histogram({
      name: 'artifact_complete_duration_seconds',
      help: 'Server-side complete handler time',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    artifactMultipartPartSize: new Histogram({
      name: 'artifact_multipart_part_size_bytes',
      help: 'Multipart part sizes',
      buckets: [5 * 2 ** 20, 8 * 2 ** 20, 16 * 2 ** 20, 32 * 2 ** 20, 64 * 2 ** 20, 128 * 2 ** 20, 512 * 2 ** 20],
      registers: [registry],
    }),
    artifactMultipartParts: new Histogram({
      name: 'artifact_multipart_parts_per_artifact',
      help: 'Parts per multipart artifact',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
      registers: [registry],
    }),
    artifactCompleteToStored: new Histogram({
      name: 'aether_artifact_complete_to_stored_seconds',
      help: 'From the complete request to a final verification outcome',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    artifactCompletes: new Counter({ name: 'aether_artifact_completes_total', help: 'Artifact completes accepted', registers: [registry] }),
    artifactVerifications: new Counter({
      name: 'aether_artifact_verifications_total',
      help: 'Artifact verification outcomes',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    deploymentsCreated: new Counter({ name: 'aether_deployments_created_total', help: 'Deployments created', registers: [registry] }),
    rollouts: new Counter({
      name: 'aether_rollouts_total',
      help: 'Rollouts finished, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    rolloutDuration: new Histogram({
      name: 'aether_rollout_duration_seconds',
      help: 'From rollout start to running or failed',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

const globalForMetrics = globalThis as unknown as { __aetherMetrics?: Metrics };

export function getMetrics(): Metrics {
  globalForMetrics.__aetherMetrics ??= createMetrics();
  return globalForMetrics.__aetherMetrics;
}
