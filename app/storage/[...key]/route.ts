import { getServices } from '../../../server/boot';
import { refuseOtherMethods } from '../../../server/http/method-not-allowed';

export const dynamic = 'force-dynamic';

/** The fs storage driver's presigned URLs: authorised by their HMAC signature, not a token. */
async function handler(req: Request) {
  const services = await getServices();
  if (!services.storageHttp) return Response.json({ code: 'not_found', message: 'not found' }, { status: 404 });
  return services.storageHttp(req);
}

export { handler as GET, handler as PUT };

const notAllowed = refuseOtherMethods(['GET', 'HEAD', 'PUT']);
export { notAllowed as POST, notAllowed as PATCH, notAllowed as DELETE };
