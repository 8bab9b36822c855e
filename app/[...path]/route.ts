import { getServices } from '../../server/boot';
import { handleRestRequest } from '../../server/rest/handler';

export const dynamic = 'force-dynamic';

/** The seed's REST contract: every other path is served from the tRPC procedures' OpenAPI face. */
async function handler(req: Request) {
  return handleRestRequest(await getServices(), req);
}

export { handler as GET, handler as HEAD, handler as POST, handler as PUT, handler as PATCH, handler as DELETE };
