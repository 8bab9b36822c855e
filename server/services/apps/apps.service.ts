import { and, desc, eq, inArray } from 'drizzle-orm';
import { applications, artifacts, configVersions, deployments } from '../../../db/schema';
import type { TCreateAppInput } from '../../contract/schemas';
import { AppError } from '../../errors';
import { noteAudit } from '../audit/note';
import type { ServiceCtx } from '../context';
import { defaultTeamOf, lockTeamFor } from '../teams/team-access';
import { getAppForActor } from './app-access';
import type { TApp, TAppSummary } from '../../contract/outputs';
import { toAppDto, toDeploymentDto } from '../dto';
import { findCurrentDeployment } from '../deployments/rollback-target';

export type { AppRow } from './app-access';

/**
 * Creates an app in a team (default: `default`, or the caller's only team) with its first,
 * empty config version: every release records one from the start.
 */
export async function createApp(ctx: ServiceCtx, input: TCreateAppInput): Promise<TApp> {
  const team = input.team ?? defaultTeamOf(ctx.actor);
  noteAudit(ctx, { target: input.name });
  const row = await ctx.db.transaction(async (tx) => {
    await lockTeamFor(ctx.actor, tx, team);
    // Only now: a refused attempt on another team must not land in (and show in) that team's log.
    noteAudit(ctx, { team });
    const [app] = await tx
      .insert(applications)
      .values({ name: input.name, owner: ctx.actor.name, team })
      .onConflictDoNothing({ target: applications.name })
      .returning();
    // A name taken in a team the caller cannot see is still taken; saying so leaks only that.
    if (!app) throw new AppError('conflict', `application name "${input.name}" exists`);
    const [first] = await tx.insert(configVersions).values({ appId: app.id, version: 1, createdBy: ctx.actor.name }).returning({ id: configVersions.id });
    await tx.update(applications).set({ configVersionId: first!.id }).where(eq(applications.id, app.id));
    return { ...app, configVersionId: first!.id };
  });
  ctx.metrics.appsCreated.inc();
  ctx.log.info('app created', { app: row.name, team: row.team, by: ctx.actor.name });
  return toAppDto(row);
}

export async function listApps(ctx: Pick<ServiceCtx, 'db' | 'actor'>, filter: { team?: string } = {}): Promise<TAppSummary[]> {
  const visible = ctx.actor.teams === null ? undefined : inArray(applications.team, [...ctx.actor.teams]);
  const byTeam = filter.team ? eq(applications.team, filter.team) : undefined;
  const apps = await ctx.db.select().from(applications).where(and(visible, byTeam)).orderBy(applications.name);
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
      ...toAppDto(app, cur ?? null),
      current: cur ? toDeploymentDto(cur, app.name) : null,
      latest: last ? toDeploymentDto(last, app.name) : null,
    };
  });
}

export async function getApp(ctx: Pick<ServiceCtx, 'db' | 'actor' | 'audit'>, name: string): Promise<TApp> {
  const app = await getAppForActor(ctx, ctx.db, name);
  return toAppDto(app, (await findCurrentDeployment(ctx.db, app.id)) ?? null);
}

/**
 * Deletes an app and everything it owns. Order matters for what a crash leaves behind: stop
 * what runs, then delete stored objects, then the rows (one cascade) — never rows pointing
 * at objects that are gone while the process still serves.
 */
export async function deleteApp(ctx: ServiceCtx, name: string): Promise<{ deleted: true; artifacts: number }> {
  const app = await getAppForActor(ctx, ctx.db, name);
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
