import { getServices } from '../../../../server/boot';
import { handleTrpcRequest } from '../../../../server/trpc/handler';

export const dynamic = 'force-dynamic';

async function handler(req: Request) {
  return handleTrpcRequest(await getServices(), req);
}

// Every method reaches the handler: it answers the ones tRPC does not serve with a 405 envelope.
export { handler as GET, handler as POST, handler as PUT, handler as PATCH, handler as DELETE };
