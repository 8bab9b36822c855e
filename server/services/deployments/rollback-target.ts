import { and, desc, eq, inArray, ne, or, type SQL } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { artifacts, deployments, IN_FLIGHT_DEPLOYMENT_STATUSES } from '../../../db/schema';
import type { DeploymentRow } from './deployments.repo';

/** The deployment serving the app now, if any. */
export async function findCurrentDeployment(db: Queryable, appId: string): Promise<DeploymentRow | undefined> {
  const [row] = await db
    .select()
    .from(deployments)
    .where(and(eq(deployments.appId, appId), eq(deployments.status, 'running')))
    .orderBy(desc(deployments.lastTransitionAt))
    .limit(1);
  return row;
}

/** A deployment of the app being created or rolled out, if any. */
export async function findInFlightDeployment(db: Queryable, appId: string): Promise<DeploymentRow | undefined> {
  const [row] = await db
    .select()
    .from(deployments)
    .where(and(eq(deployments.appId, appId), inArray(deployments.status, [...IN_FLIGHT_DEPLOYMENT_STATUSES])))
    .limit(1);
  return row;
}

/**
 * The app's rollback target, the one definition that both `deployments.rollback` (its default
 * target) and retention (which never deletes its artifact) use: the deployment that ran before
 * the current one, i.e. the most recently superseded one whose artifact is still stored and is
 * not the release that runs now (same artifact and config; after a rollback, the next rollback
 * goes one further back instead of offering what already runs). A config change is a release
 * of its own: rolling it back runs the same artifact with the config before. Ties on time
 * break by creation, then id.
 */
export async function findRollbackTarget(db: Queryable, appId: string): Promise<DeploymentRow | undefined> {
  const current = await findCurrentDeployment(db, appId);
  const conditions: SQL[] = [eq(deployments.appId, appId), eq(deployments.status, 'superseded'), eq(artifacts.status, 'stored')];
  if (current) conditions.push(or(ne(deployments.digest, current.digest), ne(deployments.configVersionId, current.configVersionId)) as SQL);
  const [row] = await db
    .select({ deployment: deployments })
    .from(deployments)
    .innerJoin(artifacts, eq(artifacts.id, deployments.artifactId))
    .where(and(...conditions))
    .orderBy(desc(deployments.lastTransitionAt), desc(deployments.createdAt), desc(deployments.id))
    .limit(1);
  return row?.deployment;
}
