/**
 * Status vocabularies. Stored as text with CHECK constraints rather than Postgres enums so a
 * later migration can add a value without ALTER TYPE (which cannot run inside a transaction
 * on PostgreSQL 15).
 */
export const ROLES = ['admin', 'deployer', 'reader'] as const;
export type Role = (typeof ROLES)[number];

export const ARTIFACT_STATUSES = ['pending', 'verifying', 'stored', 'failed', 'deleted'] as const;
export type ArtifactStatus = (typeof ARTIFACT_STATUSES)[number];

export const DEPLOYMENT_STATUSES = ['pending', 'rolling_out', 'running', 'failed', 'superseded', 'rolled_back'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** Deployments that still hold the app's attention: at most one per app + digest. */
export const IN_FLIGHT_DEPLOYMENT_STATUSES = ['pending', 'rolling_out'] as const satisfies readonly DeploymentStatus[];

export function sqlList(values: readonly string[]): string {
  return values.map((v) => `'${v}'`).join(', ');
}
