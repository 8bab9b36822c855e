import { Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { artifacts, deployments } from '../../../db/schema';
import { bearerToken } from '../../auth/tokens';
import { AppError } from '../../errors';
import { errorResponse } from '../../http/errors';
import { fetchTokenKeyFromEnv, isValidFetchToken } from '../../runtime/kubernetes/fetch-token';
import type { Services } from '../context';

type FetchServices = Pick<Services, 'env' | 'db' | 'storage' | 'log'>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Long enough for a slow start of the download, short enough to be useless once leaked.
const REDIRECT_EXPIRES_SECS = 300;

/**
 * `GET /runtime/artifacts/{deployment_id}` with `Authorization: Bearer <fetch token>`: the
 * artifact of that deployment, as a redirect to a freshly presigned GET (S3) or streamed from
 * the store (fs). The token is HMAC(secret, deployment id), checked in constant time before
 * the database is asked anything, so a wrong token learns nothing about which ids exist.
 */
export async function serveRuntimeArtifact(svc: FetchServices, req: Request, deploymentId: string): Promise<Response> {
  try {
    const key = fetchTokenKeyFromEnv(svc.env);
    if (!key) throw new AppError('not_found', 'artifact fetch for the Kubernetes runtime is not configured');
    const token = bearerToken(req.headers.get('authorization'));
    if (!token) throw new AppError('unauthorized', 'missing fetch token');
    if (!UUID_RE.test(deploymentId) || !isValidFetchToken(key, deploymentId, token)) {
      throw new AppError('unauthorized', 'invalid fetch token');
    }
    const [row] = await svc.db
      .select({ storageKey: artifacts.storageKey, status: artifacts.status })
      .from(deployments)
      .innerJoin(artifacts, eq(artifacts.id, deployments.artifactId))
      .where(eq(deployments.id, deploymentId))
      .limit(1);
    if (!row) throw new AppError('not_found', `deployment ${deploymentId} not found`);
    if (row.status !== 'stored') throw new AppError('not_found', `the artifact of deployment ${deploymentId} is ${row.status}`);
    svc.log.info('runtime artifact fetch', { deploymentId, via: svc.storage.kind === 's3' ? 'redirect' : 'stream' });
    if (svc.storage.kind === 's3') {
      const presigned = await svc.storage.presignGet(row.storageKey, { expiresInSecs: REDIRECT_EXPIRES_SECS });
      if (Object.keys(presigned.headers).length === 0) {
        return new Response(null, { status: 302, headers: { location: presigned.url, 'cache-control': 'no-store' } });
      }
    }
    const body = await svc.storage.openRead(row.storageKey);
    return new Response(Readable.toWeb(body) as unknown as ReadableStream<Uint8Array>, {
      status: 200,
      headers: { 'content-type': 'application/gzip', 'cache-control': 'no-store' },
    });
  } catch (err) {
    return errorResponse(svc, err);
  }
}
