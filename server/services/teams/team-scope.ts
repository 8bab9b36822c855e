import { inArray, type SQL } from 'drizzle-orm';
import { applications } from '../../../db/schema';
import type { Actor } from '../../auth/roles';

/**
 * A `where` term keeping rows of apps the actor sees (join `applications` first); undefined
 * for admins and unlimited tokens. Lists across apps use it so other teams' rows never show.
 */
export function visibleAppsWhere(actor: Pick<Actor, 'teams'>): SQL | undefined {
  return actor.teams === null ? undefined : inArray(applications.team, [...actor.teams]);
}
