import { eq } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { DEFAULT_TEAM, teams } from '../../../db/schema';
import type { Actor } from '../../auth/roles';
import { AppError } from '../../errors';
import { seesTeam } from '../apps/app-access';

/** Where an app goes when its creator names no team: `default`, or the caller's only team. */
export function defaultTeamOf(actor: Pick<Actor, 'teams'>): string {
  return actor.teams?.length === 1 ? (actor.teams[0] as string) : DEFAULT_TEAM;
}

/**
 * Checks that `actor` may put an app in `team` and that the team exists, holding it (share
 * lock) until the transaction ends so it cannot be deleted under the new app. A team outside
 * the caller's own is refused before its existence is looked at: the answer tells nothing.
 */
export async function lockTeamFor(actor: Pick<Actor, 'teams'>, tx: Queryable, team: string): Promise<void> {
  if (!seesTeam(actor, team)) throw new AppError('forbidden', `team "${team}" is not one of yours (${actor.teams?.join(', ')})`);
  const [row] = await tx.select({ name: teams.name }).from(teams).where(eq(teams.name, team)).for('share');
  if (!row) throw new AppError('bad_request', `team "${team}" does not exist; an admin creates teams`);
}
