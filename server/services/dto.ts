import type { applications, artifacts, deploymentEvents, deployments } from '../../db/schema';
import type { TApp, TArtifact, TDeployment, TDeploymentEvent } from '../contract/outputs';

/**
 * Rows to the contract's shapes (server/contract/outputs.ts). Internal columns (upload ids,
 * idempotency keys, signatures) stay in.
 */

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** `current`: the app's running deployment (its url is the app's), if any. */
export function toAppDto(row: typeof applications.$inferSelect, current: { url: string | null } | null = null): TApp {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    team: row.team,
    created_at: row.createdAt.toISOString(),
    url: current?.url ?? null,
    instances: row.instances,
    health: row.health ?? null,
    health_message: row.healthMessage ?? null,
  };
}

export function toArtifactDto(row: typeof artifacts.$inferSelect, appName: string): TArtifact {
  return {
    artifact_id: row.id,
    app_name: appName,
    digest: row.digest,
    size_bytes: row.sizeBytes,
    status: row.status,
    verified: row.verified,
    failure_reason: row.failureReason,
    storage_key: row.storageKey,
    created_at: row.createdAt.toISOString(),
    stored_at: iso(row.storedAt),
  };
}

export function toDeploymentDto(row: typeof deployments.$inferSelect, appName: string): TDeployment {
  return {
    id: row.id,
    app_name: appName,
    digest: row.digest,
    status: row.status,
    failure_reason: row.failureReason,
    url: row.url,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    last_transition_at: row.lastTransitionAt.toISOString(),
    rollout_completed_at: iso(row.rolloutCompletedAt),
    rollback_of: row.rollbackOf,
  };
}

export function toDeploymentEventDto(row: typeof deploymentEvents.$inferSelect): TDeploymentEvent {
  return { id: row.id, phase: row.phase, message: row.message, duration_ms: row.durationMs, created_at: row.createdAt.toISOString() };
}
