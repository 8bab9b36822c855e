import { and, eq, gt, inArray } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { applications, deploymentEvents, deployments, type DeploymentStatus } from '../../../db/schema';
import { notFound } from '../../errors';
import { seesTeam } from '../apps/app-access';
import { noteAudit } from '../audit/note';
import type { ServiceCtx } from '../context';

export type DeploymentRow = typeof deployments.$inferSelect;

export interface DeploymentWithApp {
  deployment: DeploymentRow;
  appName: string;
  team: string;
}

export async function getDeploymentWithApp(db: Queryable, id: string): Promise<DeploymentWithApp> {
  const [row] = await db
    .select({ deployment: deployments, appName: applications.name, team: applications.team })
    .from(deployments)
    .innerJoin(applications, eq(applications.id, deployments.appId))
    .where(eq(deployments.id, id))
    .limit(1);
  if (!row) throw notFound(`deployment ${id}`);
  return row;
}

/**
 * A deployment as `ctx.actor` may see it: one of an app of another team is `not_found`, with
 * the same message as a missing one. Names the app in the audit record.
 */
export async function getDeploymentForActor(
  ctx: Pick<ServiceCtx, 'actor' | 'audit'>,
  db: Queryable,
  id: string,
): Promise<DeploymentWithApp> {
  const row = await getDeploymentWithApp(db, id);
  if (!seesTeam(ctx.actor, row.team)) throw notFound(`deployment ${id}`);
  noteAudit(ctx, { team: row.team, target: row.appName });
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
