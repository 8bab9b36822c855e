import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import type { Services } from '../services/context';
import { createInnerContext, toTrpcError } from '../trpc/init';
import { exactStatusOf } from '../trpc/error-codes';
import { appRouter } from '../trpc/root';
import { safeDecode } from '../url-segment';
import { actorFromBearerOrCookie } from './auth';
import { cappedRequest } from './capped-body';
import { methodNotAllowed } from './method-not-allowed';
import { requestIdOf } from './request-id';

export const TRPC_ENDPOINT = '/api/trpc';

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
 * with `payload_too_large`.
 */
export async function handleTrpcRequest(services: Services, req: Request): Promise<Response> {
  const requestId = requestIdOf(req.headers);
  const { pathname } = new URL(req.url);
  // tRPC itself would call a PUT "unsupported media type", or a "not found" for a path
  // without procedures: a method it never serves is a 405 first.
  if (req.method !== 'GET' && req.method !== 'POST') return methodNotAllowed(req.method, trpcAllowedMethods(pathname));
  const res = await fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req: cappedRequest(req, services.env.AETHER_MAX_JSON_BODY_BYTES, toTrpcError),
    router: appRouter,
    createContext: async () => {
      const { actor, authError } = await actorFromBearerOrCookie(services, req);
      return createInnerContext(services, actor, authError, requestId);
    },
    responseMeta: ({ errors, paths }) => exactStatusOf(errors, paths),
  });
  if (res.status === 405) res.headers.set('allow', trpcAllowedMethods(pathname).join(', '));
  return res;
}
