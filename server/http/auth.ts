import { isSameOriginRequest } from '../auth/same-origin';
import { authenticateToken, bearerToken } from '../auth/tokens';
import { roleAllows, type Actor, type Role } from '../auth/roles';
import { AppError, isAppError } from '../errors';
import { outageError } from '../outage';
import type { Services } from '../services/context';
import { safeDecode } from '../url-segment';

/** The portal's httpOnly session cookie: it holds the signed-in user's API token. */
export const SESSION_COOKIE = 'aether_session';

export interface Caller {
  actor: Actor | null;
  authError: AppError | null;
}

/** Resolves the caller of a plain HTTP request from its bearer token (REST routes, tRPC's context). */
/** What the bearer checks read of a request: its headers, whichever face it came in on. */
type WithHeaders = { headers: Pick<Headers, 'get'> };

export async function actorFromRequest(services: Services, req: WithHeaders): Promise<Caller> {
  const token = bearerToken(req.headers.get('authorization'));
  if (!token) return { actor: null, authError: null };
  try {
    return { actor: await authenticateToken(services.db, services.staticTokens, token), authError: null };
  } catch (err) {
    if (isAppError(err)) return { actor: null, authError: err };
    return { actor: null, authError: outageOrThrow(err) };
  }
}

export async function requireRole(services: Services, req: WithHeaders, role: Role): Promise<Actor> {
  const { actor, authError } = await actorFromRequest(services, req);
  if (!actor) throw authError ?? new AppError('unauthorized', 'missing bearer token');
  if (!roleAllows(actor.role, role)) throw new AppError('forbidden', `this needs the ${role} role; you are ${actor.role}`);
  return actor;
}

export function cookieValue(req: Request, name: string): string | null {
  for (const part of (req.headers.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return safeDecode(part.slice(eq + 1).trim());
  }
  return null;
}

/** A token that could not be checked because its store is down is a 503 for the caller; anything else is a bug. */
function outageOrThrow(err: unknown): AppError {
  const outage = outageError(err);
  if (!outage) throw err;
  return outage;
}

/** The browser's caller, from the portal's session cookie. */
export async function actorFromCookie(services: Services, req: Request): Promise<Caller> {
  const token = cookieValue(req, SESSION_COOKIE);
  if (!token) return { actor: null, authError: null };
  // A cookie rides along on any request to us, including one a hostile page triggers.
  if (req.method !== 'GET' && req.method !== 'HEAD' && !isSameOriginRequest(req.headers, services.env.AETHER_PUBLIC_URL)) {
    return { actor: null, authError: new AppError('forbidden', 'cross-origin request refused: calls with the session cookie must come from the portal') };
  }
  try {
    return { actor: await authenticateToken(services.db, services.staticTokens, token), authError: null };
  } catch (err) {
    if (isAppError(err)) return { actor: null, authError: new AppError('unauthorized', 'your session has expired or was revoked; sign in again') };
    return { actor: null, authError: outageOrThrow(err) };
  }
}

/** A bearer token when one is sent, else the session cookie (never both: a bearer header wins). */
export function actorFromBearerOrCookie(services: Services, req: Request): Promise<Caller> {
  return req.headers.has('authorization') ? actorFromRequest(services, req) : actorFromCookie(services, req);
}
