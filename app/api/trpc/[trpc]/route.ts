import { getServices } from '../../../../server/boot';
import { handleTrpcRequest } from '../../../../server/trpc/handler';

export const dynamic = 'force-dynamic';

async function handler(req: Request) {
  return handleTrpcRequest(await getServices(), req);
}

export { handler as GET, handler as POST };
