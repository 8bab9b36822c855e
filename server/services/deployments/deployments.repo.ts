import { and, eq, gt, inArray } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { applications, deploymentEvents, deployments, type DeploymentStatus } from '../../../db/schema';
import { notFound } from '../../errors';

export type DeploymentRow = typeof deployments.$inferSelect;

export async function getDeploymentWithApp(db: Queryable, id: string): Promise<{ deployment: DeploymentRow; appName: string }> {
  const [row] = await db
    .select({ deployment: deployments, appName: applications.name })
    .from(deployments)
    .innerJoin(applications, eq(applications.id, deployments.appId))
    .where(eq(deployments.id, id))
    .limit(1);
  if (!row) throw notFound(`deployment ${id}`);
  return row;
}

/** Compare-and-set on status, with the event row that explains it. */
export async function transitionDeployment(
  db: Queryable,
  id: string,
  from: DeploymentStatus[],
  to: DeploymentStatus,
  patch: Partial<DeploymentRow>,
  event: { phase: string; message: string; durationMs?: number },
): Promise<DeploymentRow | undefined> {
  const now = new Date();
  const [row] = await db
    .update(deployments)
    .set({ ...patch, status: to, lastTransitionAt: now })
    .where(and(eq(deployments.id, id), inArray(deployments.status, from)))
    .returning();
  if (row) await db.insert(deploymentEvents).values({ deploymentId: id, ...event });
  return row;
}

export async function addDeploymentEvent(db: Queryable, deploymentId: string, event: { phase: string; message: string; durationMs?: number }) {
  await db.insert(deploymentEvents).values({ deploymentId, ...event });
}

export async function listDeploymentEvents(db: Queryable, deploymentId: string, afterId = 0) {
  return db
    .select()
    .from(deploymentEvents)
    .where(and(eq(deploymentEvents.deploymentId, deploymentId), gt(deploymentEvents.id, afterId)))
    .orderBy(deploymentEvents.id);
}
