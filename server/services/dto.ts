import { artifacts, deployments, type applications, type deploymentEvents } from '../../db/schema';
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

/** The columns {@link toArtifactDto} reads: a list selects these, not the whole row (half of it). */
export const ARTIFACT_DTO_COLUMNS = {
  id: artifacts.id,
  digest: artifacts.digest,
  sizeBytes: artifacts.sizeBytes,
  status: artifacts.status,
  verified: artifacts.verified,
  failureReason: artifacts.failureReason,
  storageKey: artifacts.storageKey,
  createdAt: artifacts.createdAt,
  storedAt: artifacts.storedAt,
};
export type ArtifactDtoRow = Pick<typeof artifacts.$inferSelect, keyof typeof ARTIFACT_DTO_COLUMNS>;

export function toArtifactDto(row: ArtifactDtoRow, appName: string): TArtifact {
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

/** The columns {@link toDeploymentDto} reads, for lists. */
export const DEPLOYMENT_DTO_COLUMNS = {
  id: deployments.id,
  digest: deployments.digest,
  status: deployments.status,
  failureReason: deployments.failureReason,
  url: deployments.url,
  createdBy: deployments.createdBy,
  createdAt: deployments.createdAt,
  lastTransitionAt: deployments.lastTransitionAt,
  rolloutCompletedAt: deployments.rolloutCompletedAt,
  rollbackOf: deployments.rollbackOf,
};
export type DeploymentDtoRow = Pick<typeof deployments.$inferSelect, keyof typeof DEPLOYMENT_DTO_COLUMNS>;

export function toDeploymentDto(row: DeploymentDtoRow, appName: string): TDeployment {
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
