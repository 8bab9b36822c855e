import { and, eq } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { applications } from '../../../db/schema';
import type { Actor } from '../../auth/roles';
import { notFound } from '../../errors';
import { noteAudit } from '../audit/note';
import { visibleAppsWhere } from '../teams/team-scope';
import type { ServiceCtx } from '../context';

export type AppRow = typeof applications.$inferSelect;

/** Whether `actor` may see apps of `team`: admins and unlimited tokens see every team. */
export function seesTeam(actor: Pick<Actor, 'teams'>, team: string): boolean {
  return actor.teams === null || actor.teams.includes(team);
}

/**
 * The app named `name` as `ctx.actor` may see it. An app of another team is `not_found`,
 * exactly like a missing one, so its name does not leak. Names the app in the audit record.
 * `forUpdate` locks the row (inside a transaction) to serialise changes of one app.
 */
export async function getAppForActor(ctx: Pick<ServiceCtx, 'actor' | 'audit'>, db: Queryable, name: string, opts: { forUpdate?: boolean } = {}): Promise<AppRow> {
  // The team filter is in the query, not after it: a hidden app's row is never locked (nor waited on).
  const query = db.select().from(applications).where(and(eq(applications.name, name), visibleAppsWhere(ctx.actor))).limit(1);
  const [app] = opts.forUpdate ? await query.for('update') : await query;
  if (!app || !seesTeam(ctx.actor, app.team)) throw notFound(`app "${name}"`);
  noteAudit(ctx, { team: app.team, target: app.name });
  return app;
}
