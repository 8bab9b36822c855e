import type { Services } from '../services/context';
import { isFsStorage } from '../storage/fs.driver';

/**
 * `/storage/...`: the embedded store's presigned PUTs (whole objects and multipart parts) and
 * GETs. The fs driver checks the signature itself; with S3 the URLs point at the store, so
 * nothing is served here.
 */
export async function serveStorage(services: Pick<Services, 'storage'>, req: Request): Promise<Response> {
  if (!isFsStorage(services.storage)) return Response.json({ code: 'not_found', message: 'not found' }, { status: 404 });
  return services.storage.handleRequest(req);
}
