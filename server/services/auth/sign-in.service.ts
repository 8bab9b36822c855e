import { eq } from 'drizzle-orm';
import { apiTokens } from '../../../db/schema';
import { authenticateToken, hashToken } from '../../auth/tokens';
import type { Actor } from '../../auth/roles';
import { AppError, isAppError } from '../../errors';
import { recordAudit, UNKNOWN_ACTOR, type AuditActor } from '../audit/record';
import type { Services } from '../context';

/** The name of a database token that no longer works (revoked, expired), for the record; never the token. */
async function refusedTokenActor(services: Pick<Services, 'db'>, token: string): Promise<AuditActor> {
  const [row] = await services.db
    .select({ id: apiTokens.id, name: apiTokens.name, role: apiTokens.role })
    .from(apiTokens)
    .where(eq(apiTokens.tokenHash, hashToken(token)))
    .limit(1);
  return row ? { name: row.name, role: row.role, tokenId: row.id } : UNKNOWN_ACTOR;
}

/**
 * Signs in with an API token (the portal's form): the token is checked, and the attempt is
 * recorded in the audit log as `auth.signIn`, `ok` or `unauthorized`. Throws `unauthorized`.
 */
export async function signInWithToken(
  services: Pick<Services, 'db' | 'log' | 'staticTokens'>,
  token: string,
  opts: { requestId?: string; via: 'portal' },
): Promise<Actor> {
  let actor: Actor;
  try {
    actor = await authenticateToken(services.db, services.staticTokens, token);
  } catch (err) {
    if (!isAppError(err)) throw err;
    const who = await refusedTokenActor(services, token).catch(() => UNKNOWN_ACTOR);
    const refused = { actor: who, action: 'auth.signIn', outcome: 'unauthorized', requestId: opts.requestId };
    await recordAudit(services, { ...refused, detail: { via: opts.via } });
    throw new AppError('unauthorized', 'invalid, expired or revoked token');
  }
  const signedIn = { actor, action: 'auth.signIn', outcome: 'ok', target: actor.name, requestId: opts.requestId };
  await recordAudit(services, { ...signedIn, detail: { via: opts.via } });
  return actor;
}

/** Records a portal sign-out by whoever held the session (the cookie is dropped either way). */
export function recordSignOut(services: Pick<Services, 'db' | 'log'>, actor: Actor, requestId?: string): Promise<void> {
  const entry = { actor, action: 'auth.signOut', outcome: 'ok', target: actor.name, requestId };
  return recordAudit(services, { ...entry, detail: { via: 'portal' } });
}
