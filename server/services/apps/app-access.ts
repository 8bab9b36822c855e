import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { builtOnce } from '../../../db/prepared';
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

/** The lookup of every request on an app, by callers who see all teams: built once. */
const appByName = (db: Queryable) =>
  builtOnce(db, 'app_by_name', (q) => q.select().from(applications).where(eq(applications.name, sql.placeholder('name'))).limit(1).prepare('app_by_name'));

/**
 * The app named `name` as `ctx.actor` may see it. An app of another team is `not_found`,
 * exactly like a missing one, so its name does not leak. Names the app in the audit record.
 * `forUpdate` locks the row (inside a transaction) to serialise changes of one app.
 */
export async function getAppForActor(ctx: Pick<ServiceCtx, 'actor' | 'audit'>, db: Queryable, name: string, opts: { forUpdate?: boolean } = {}): Promise<AppRow> {
  // The team filter is in the query, not after it: a hidden app's row is never locked (nor waited on).
  const visible = visibleAppsWhere(ctx.actor);
  let app: AppRow | undefined;
  if (visible === undefined && !opts.forUpdate) [app] = await appByName(db).execute({ name });
  else {
    const query = db.select().from(applications).where(and(eq(applications.name, name), visible)).limit(1);
    [app] = opts.forUpdate ? await query.for('update') : await query;
  }
  if (!app || !seesTeam(ctx.actor, app.team)) throw notFound(`app "${name}"`);
  noteAudit(ctx, { team: app.team, target: app.name });
  return app;
}
