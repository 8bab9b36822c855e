import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { isSameOriginRequest } from '../auth/same-origin';
import { authenticateToken } from '../auth/tokens';
import type { Actor } from '../auth/roles';
import { AppError, isAppError } from '../errors';
import { actorFromRequest } from '../http';
import { methodNotAllowed } from '../http/method-not-allowed';
import { cappedRequest } from '../http/capped-body';
import { requestIdOf, withRequestId } from '../http/request-id';
import type { Services } from '../services/context';
import { createInnerContext, toTrpcError } from './init';
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

/** The browser's caller, from the session cookie; only when no Authorization header was sent. */
async function actorFromCookie(services: Services, req: Request): Promise<{ actor: Actor | null; authError: AppError | null }> {
  const token = cookieValue(req, SESSION_COOKIE);
  if (!token) return { actor: null, authError: null };
  // A cookie rides along on any request to us, including one a hostile page triggers.
  if (req.method !== 'GET' && !isSameOriginRequest(req.headers, services.env.AETHER_PUBLIC_URL)) {
    return { actor: null, authError: new AppError('forbidden', 'cross-origin request refused: calls with the session cookie must come from the portal') };
  }
  try {
    return { actor: await authenticateToken(services.db, services.staticTokens, token), authError: null };
  } catch (err) {
    if (isAppError(err)) return { actor: null, authError: new AppError('unauthorized', 'your session has expired or was revoked; sign in again') };
    throw err;
  }
}

/** The methods a tRPC path answers: GET for queries, POST for mutations (batches: their union). */
export function trpcAllowedMethods(pathname: string): string[] {
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } } | undefined>;
  const paths = safeDecode(pathname.slice(TRPC_ENDPOINT.length + 1)).split(',');
  const types = new Set(paths.map((p) => procedures[p]?._def.type));
  if (types.has(undefined)) return ['GET', 'POST'];
  return [...(types.has('query') ? ['GET'] : []), ...(types.has('mutation') ? ['POST'] : [])];
}

/**
 * Serves tRPC over HTTP (web Request/Response). The CLI and tools send a bearer token; the
 * portal's browser code sends the session cookie instead (never both: a bearer header wins).
 * Bodies are read up to AETHER_MAX_JSON_BODY_BYTES; past it every call of the request fails
 * with `payload_too_large`. Every answer carries the request's id (`X-Request-Id`).
 */
export async function handleTrpcRequest(services: Services, req: Request): Promise<Response> {
  const requestId = requestIdOf(req.headers);
  return withRequestId(await serveTrpc(services, req, requestId), requestId);
}

async function serveTrpc(services: Services, req: Request, requestId: string): Promise<Response> {
  const { pathname } = new URL(req.url);
  // tRPC itself would call a PUT "unsupported media type", or a "not found" for a path
  // without procedures: a method it never serves is a 405 first.
  if (req.method !== 'GET' && req.method !== 'POST') return methodNotAllowed(req.method, trpcAllowedMethods(pathname));
  const res = await fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req: cappedRequest(req, services.env.AETHER_MAX_JSON_BODY_BYTES, toTrpcError),
    router: appRouter,
    createContext: async () => {
      const { actor, authError } = req.headers.has('authorization') ? await actorFromRequest(services, req) : await actorFromCookie(services, req);
      return createInnerContext(services, actor, authError, requestId);
    },
  });
  if (res.status === 405) res.headers.set('allow', trpcAllowedMethods(pathname).join(', '));
  return res;
}
