import { Readable } from 'node:stream';
import { bearerToken } from '../auth/tokens';
import type { Services } from '../services/context';
import { runtimeArtifact } from '../services/deployments/runtime-artifact.service';
import { errorResponse } from './errors';

/**
 * `GET /runtime/artifacts/{deployment_id}` with `Authorization: Bearer <fetch token>`: a redirect
 * to a freshly presigned GET (S3), or the bytes streamed from the store (fs).
 */
export async function serveRuntimeArtifact(services: Services, req: Request, deploymentId: string): Promise<Response> {
  try {
    const found = await runtimeArtifact(services, deploymentId, bearerToken(req.headers.get('authorization')));
    if (found.kind === 'redirect') return new Response(null, { status: 302, headers: { location: found.url, 'cache-control': 'no-store' } });
    return new Response(Readable.toWeb(found.body) as unknown as ReadableStream<Uint8Array>, {
      status: 200,
      headers: { 'content-type': 'application/gzip', 'cache-control': 'no-store' },
    });
  } catch (err) {
    return errorResponse(services, err);
  }
}
