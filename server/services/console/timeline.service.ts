import { and, asc, desc, eq, inArray, type SQL } from 'drizzle-orm';
import { deploymentEvents, deployments } from '../../../db/schema';
import type { TTimelinePage } from '../../contract/console';
import { getAppForActor } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { DEPLOYMENT_DTO_COLUMNS, toDeploymentDto, toDeploymentEventDto } from '../dto';
import { keysetPage, olderThanCursor } from '../keyset-cursor';

/**
 * One page of an app's deployments, newest first, each with its phases: two indexed queries
 * per page (deployments by app + created_at, then their events), however long the history.
 */
export async function getDeploymentTimeline(ctx: Pick<ServiceCtx, 'db' | 'actor'>, input: { app_name: string; limit: number; cursor?: string }): Promise<TTimelinePage> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const where: Array<SQL | undefined> = [eq(deployments.appId, app.id)];
  if (input.cursor) where.push(olderThanCursor(input.cursor, deployments, deployments.createdAt, deployments.id));
  const rows = await ctx.db
    .select(DEPLOYMENT_DTO_COLUMNS)
    .from(deployments)
    .where(and(...where))
    .orderBy(desc(deployments.createdAt), desc(deployments.id))
    .limit(input.limit + 1);
  const { page, next_cursor } = keysetPage(rows, input.limit, (d) => d);
  const events = page.length
    ? await ctx.db.select().from(deploymentEvents).where(inArray(deploymentEvents.deploymentId, page.map((d) => d.id))).orderBy(asc(deploymentEvents.id))
    : [];
  return {
    items: page.map((d) => ({ ...toDeploymentDto(d, app.name), events: events.filter((e) => e.deploymentId === d.id).map(toDeploymentEventDto) })),
    next_cursor,
  };
}
