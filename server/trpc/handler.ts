import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { authenticateToken } from '../auth/tokens';
import type { Actor } from '../auth/roles';
import { AppError, isAppError } from '../errors';
import { actorFromRequest } from '../http';
import type { Services } from '../services/context';
import { createInnerContext } from './init';
import { appRouter } from './root';
import { safeDecode } from '../url-segment';

export const TRPC_ENDPOINT = '/api/trpc';
/** The portal's httpOnly session cookie: it holds the signed-in user's API token. */
export const SESSION_COOKIE = 'aether_session';

function cookieValue(req: Request, name: string): string | null {
  for (const part of (req.headers.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return safeDecode(part.slice(eq + 1).trim());
  }
  return null;
}

/**
 * A cookie rides along on any request to us, including one a hostile page triggers, so a
 * state-changing call authenticated by it must come from our own pages: browsers always send
 * Origin on POST, and SameSite=strict already keeps the cookie off cross-site requests.
 */
function sameOrigin(services: Services, req: Request): boolean {
  const origin = req.headers.get('origin');
  if (!origin) return false;
  return origin === new URL(req.url).origin || origin === new URL(services.env.AETHER_PUBLIC_URL).origin;
}

/** The browser's caller, from the session cookie; only when no Authorization header was sent. */
async function actorFromCookie(services: Services, req: Request): Promise<{ actor: Actor | null; authError: AppError | null }> {
  const token = cookieValue(req, SESSION_COOKIE);
  if (!token) return { actor: null, authError: null };
  if (req.method !== 'GET' && !sameOrigin(services, req)) {
    return { actor: null, authError: new AppError('forbidden', 'cross-origin request refused: calls with the session cookie must come from the portal') };
  }
  try {
    return { actor: await authenticateToken(services.db, services.staticTokens, token), authError: null };
  } catch (err) {
    if (isAppError(err)) return { actor: null, authError: new AppError('unauthorized', 'your session has expired or was revoked; sign in again') };
    throw err;
  }
}

/**
 * Serves tRPC over HTTP (web Request/Response). The CLI and tools send a bearer token; the
 * portal's browser code sends the session cookie instead (never both: a bearer header wins).
 */
export function handleTrpcRequest(services: Services, req: Request): Promise<Response> {
  return fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req,
    router: appRouter,
    createContext: async () => {
      const { actor, authError } = req.headers.has('authorization') ? await actorFromRequest(services, req) : await actorFromCookie(services, req);
      return createInnerContext(services, actor, authError);
    },
  });
}
