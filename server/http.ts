import { bearerToken, authenticateToken } from './auth/tokens';
import { roleAllows, type Actor, type Role } from './auth/roles';
import { AppError, isAppError } from './errors';
import type { Services } from './services/context';

/** Resolves the caller of a plain HTTP request (REST routes, tRPC's context). */
export async function actorFromRequest(services: Services, req: Request): Promise<{ actor: Actor | null; authError: AppError | null }> {
  const token = bearerToken(req.headers.get('authorization'));
  if (!token) return { actor: null, authError: null };
  try {
    return { actor: await authenticateToken(services.db, services.staticTokens, token), authError: null };
  } catch (err) {
    if (isAppError(err)) return { actor: null, authError: err };
    throw err;
  }
}

export async function requireRole(services: Services, req: Request, role: Role): Promise<Actor> {
  const { actor, authError } = await actorFromRequest(services, req);
  if (!actor) throw authError ?? new AppError('unauthorized', 'missing bearer token');
  if (!roleAllows(actor.role, role)) throw new AppError('forbidden', `this needs the ${role} role; you are ${actor.role}`);
  return actor;
}

/** Renders any error as the `{ code, message }` envelope; unexpected ones as a bare `internal`. */
export function errorResponse(services: Pick<Services, 'log'> | null, err: unknown): Response {
  if (isAppError(err)) return Response.json(err.toEnvelope(), { status: err.httpStatus });
  services?.log.error('request failed', { err });
  return Response.json({ code: 'internal', message: 'internal error' }, { status: 500 });
}
