import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { applications, artifacts, deployments } from '../../../db/schema';
import type { TCreateAppInput } from '../../contract/schemas';
import { AppError, notFound } from '../../errors';
import type { ServiceCtx } from '../context';
import type { TApp, TAppSummary } from '../../contract/outputs';
import { toAppDto, toDeploymentDto } from '../dto';

export type AppRow = typeof applications.$inferSelect;

export async function getAppOrThrow(db: Queryable, name: string): Promise<AppRow> {
  const [app] = await db.select().from(applications).where(eq(applications.name, name)).limit(1);
  if (!app) throw notFound(`app "${name}"`);
  return app;
}

export async function createApp(ctx: ServiceCtx, input: TCreateAppInput): Promise<TApp> {
  const [row] = await ctx.db
    .insert(applications)
    .values({ name: input.name, owner: ctx.actor.name })
    .onConflictDoNothing({ target: applications.name })
    .returning();
  if (!row) throw new AppError('conflict', `application name "${input.name}" exists`);
  ctx.metrics.appsCreated.inc();
  ctx.log.info('app created', { app: row.name, by: ctx.actor.name });
  return toAppDto(row);
}

export async function listApps(ctx: Pick<ServiceCtx, 'db'>): Promise<TAppSummary[]> {
  const apps = await ctx.db.select().from(applications).orderBy(applications.name);
  if (apps.length === 0) return [];
  const ids = apps.map((a) => a.id);
  const [running, recent] = await Promise.all([
    ctx.db.select().from(deployments).where(and(inArray(deployments.appId, ids), eq(deployments.status, 'running'))),
    ctx.db
      .selectDistinctOn([deployments.appId])
      .from(deployments)
      .where(inArray(deployments.appId, ids))
      .orderBy(deployments.appId, desc(deployments.createdAt)),
  ]);
  return apps.map((app) => {
    const cur = running.find((d) => d.appId === app.id);
    const last = recent.find((d) => d.appId === app.id);
    return {
      ...toAppDto(app),
      current: cur ? toDeploymentDto(cur, app.name) : null,
      latest: last ? toDeploymentDto(last, app.name) : null,
    };
  });
}

export async function getApp(ctx: Pick<ServiceCtx, 'db'>, name: string): Promise<TApp> {
  return toAppDto(await getAppOrThrow(ctx.db, name));
}

/**
 * Deletes an app and everything it owns. Order matters for what a crash leaves behind: stop
 * what runs, then delete stored objects, then the rows (one cascade) — never rows pointing
 * at objects that are gone while the process still serves.
 */
export async function deleteApp(ctx: ServiceCtx, name: string): Promise<{ deleted: true; artifacts: number }> {
  const app = await getAppOrThrow(ctx.db, name);
  await ctx.runtime.stop(app.name);
  const owned = await ctx.db.select().from(artifacts).where(eq(artifacts.appId, app.id));
  for (const a of owned) {
    if (a.multipartUploadId && a.status === 'pending') await ctx.storage.abortMultipart(a.storageKey, { uploadId: a.multipartUploadId }).catch(() => undefined);
    await ctx.storage.delete(a.storageKey);
  }
  // Deployments first: they RESTRICT the deletion of the artifacts they ran.
  await ctx.db.transaction(async (tx) => {
    await tx.delete(deployments).where(eq(deployments.appId, app.id));
    await tx.delete(applications).where(eq(applications.id, app.id));
  });
  ctx.log.info('app deleted', { app: app.name, by: ctx.actor.name, artifacts: owned.length });
  return { deleted: true, artifacts: owned.length };
}
