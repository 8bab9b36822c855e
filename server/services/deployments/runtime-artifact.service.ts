import type { Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { artifacts, deployments } from '../../../db/schema';
import { AppError } from '../../errors';
import { fetchTokenKeyFromEnv, isValidFetchToken } from '../../runtime/kubernetes/fetch-token';
import type { Services } from '../context';

type FetchServices = Pick<Services, 'env' | 'db' | 'storage' | 'log'>;

/** Where a runtime finds a deployment's artifact: a presigned URL (S3), or the bytes (fs). */
export type RuntimeArtifact = { kind: 'redirect'; url: string } | { kind: 'stream'; body: Readable };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Long enough for a slow start of the download, short enough to be useless once leaked.
const REDIRECT_EXPIRES_SECS = 300;

/**
 * The artifact of a deployment, for the runtime that fetches it with its fetch token. The token
 * is HMAC(secret, deployment id), checked in constant time before the database is asked
 * anything, so a wrong token learns nothing about which ids exist.
 */
export async function runtimeArtifact(svc: FetchServices, deploymentId: string, token: string | null): Promise<RuntimeArtifact> {
  const key = fetchTokenKeyFromEnv(svc.env);
  if (!key) throw new AppError('not_found', 'artifact fetch for the Kubernetes runtime is not configured');
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
    // A URL that needs extra headers (SSE-C) cannot be followed by a plain GET: stream instead.
    if (Object.keys(presigned.headers).length === 0) return { kind: 'redirect', url: presigned.url };
  }
  return { kind: 'stream', body: await svc.storage.openRead(row.storageKey) };
}
