import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { actorFromRequest } from '../http';
import type { Services } from '../services/context';
import { createInnerContext } from './init';
import { appRouter } from './root';

export const TRPC_ENDPOINT = '/api/trpc';

/** Serves tRPC over HTTP (web Request/Response), authenticating the bearer token per request. */
export function handleTrpcRequest(services: Services, req: Request): Promise<Response> {
  return fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req,
    router: appRouter,
    createContext: async () => {
      const { actor, authError } = await actorFromRequest(services, req);
      return createInnerContext(services, actor, authError);
    },
  });
}
