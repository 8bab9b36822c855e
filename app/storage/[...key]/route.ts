import { getServices } from '../../../server/boot';

export const dynamic = 'force-dynamic';

/** The fs storage driver's presigned URLs: authorised by their HMAC signature, not a token. */
async function handler(req: Request) {
  const services = await getServices();
  if (!services.storageHttp) return Response.json({ code: 'not_found', message: 'not found' }, { status: 404 });
  return services.storageHttp(req);
}

export { handler as GET, handler as PUT };
