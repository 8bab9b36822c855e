import { and, arrayContains, count, eq, inArray, isNull } from 'drizzle-orm';
import { applications, apiTokens, DEFAULT_TEAM, teams } from '../../../db/schema';
import type { TTeam } from '../../contract/teams';
import { AppError } from '../../errors';
import { noteAudit } from '../audit/note';
import type { ServiceCtx } from '../context';

/** Teams the caller sees (admins and unlimited tokens: all), with how many apps each has. */
export async function listTeams(ctx: Pick<ServiceCtx, 'db' | 'actor'>): Promise<TTeam[]> {
  const visible = ctx.actor.teams === null ? undefined : inArray(teams.name, [...ctx.actor.teams]);
  const rows = await ctx.db
    .select({ name: teams.name, createdAt: teams.createdAt, apps: count(applications.id) })
    .from(teams)
    .leftJoin(applications, eq(applications.team, teams.name))
    .where(visible)
    .groupBy(teams.name, teams.createdAt)
    .orderBy(teams.name);
  return rows.map((r) => ({ name: r.name, created_at: r.createdAt.toISOString(), apps: Number(r.apps) }));
}

export async function createTeam(ctx: ServiceCtx, name: string): Promise<TTeam> {
  noteAudit(ctx, { team: name, target: name });
  const [row] = await ctx.db.insert(teams).values({ name }).onConflictDoNothing().returning();
  if (!row) throw new AppError('conflict', `team "${name}" exists`);
  ctx.log.info('team created', { team: name, by: ctx.actor.name });
  return { name: row.name, created_at: row.createdAt.toISOString(), apps: 0 };
}

/** Deletes an empty team that no unrevoked token is limited to; `default` stays. */
export async function deleteTeam(ctx: ServiceCtx, name: string): Promise<{ deleted: true }> {
  noteAudit(ctx, { team: name, target: name });
  if (name === DEFAULT_TEAM) throw new AppError('conflict', `team "${DEFAULT_TEAM}" cannot be deleted: apps created without a team go there`);
  // Environment tokens cannot be revoked here; a team made later under this name would be theirs.
  const fromEnv = ctx.staticTokens.filter((t) => t.teams?.includes(name)).map((t) => `"${t.name}"`);
  if (fromEnv.length > 0) throw new AppError('conflict', `AETHER_API_TOKENS limits ${fromEnv.join(', ')} to team "${name}"; change that setting first`);
  await ctx.db.transaction(async (tx) => {
    const [row] = await tx.select().from(teams).where(eq(teams.name, name)).for('update');
    if (!row) throw new AppError('not_found', `team "${name}" not found`);
    const [{ n: appCount } = { n: 0 }] = await tx.select({ n: count() }).from(applications).where(eq(applications.team, name));
    if (Number(appCount) > 0) throw new AppError('conflict', `team "${name}" still has ${appCount} app(s); move or delete them first`);
    const [{ n: tokenCount } = { n: 0 }] = await tx.select({ n: count() }).from(apiTokens).where(and(arrayContains(apiTokens.teams, [name]), isNull(apiTokens.revokedAt)));
    if (Number(tokenCount) > 0) throw new AppError('conflict', `${tokenCount} token(s) are limited to team "${name}"; revoke them first`);
    await tx.delete(teams).where(eq(teams.name, name));
  });
  ctx.log.info('team deleted', { team: name, by: ctx.actor.name });
  return { deleted: true };
}
