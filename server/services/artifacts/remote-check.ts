import { createHash } from 'node:crypto';
import type { Env } from '../../env';
import type { ObjectInfo, StorageDriver } from '../../storage/port';
import type { ArtifactRow } from './artifacts.repo';

/** The seed's verification failure reasons, plus ours for a missing object and a bad signature. */
export type VerifyFailure =
  'object_missing' | 'size_mismatch' | 'digest_mismatch_remote' | 'digest_mismatch_remote_hash' | 'signature_invalid';

export interface Finding {
  reason: VerifyFailure;
  detail: string;
}

/** sha256 of the whole object, streamed; only called within AETHER_REMOTE_HASH_MAX_BYTES. */
async function hashObject(storage: StorageDriver, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await storage.openRead(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Compares what storage holds with what the client declared, cheapest check first: existence,
 * size, the declared sha256 metadata, then the real sha256 (computed by the store on write, or
 * by downloading when AETHER_VERIFY_REMOTE_HASH allows it). Storage errors propagate (retried).
 */
export async function checkStoredObject(storage: StorageDriver, env: Env, row: ArtifactRow): Promise<Finding | null> {
  const info: ObjectInfo | null = await storage.head(row.storageKey);
  if (!info) return { reason: 'object_missing', detail: 'no object at the storage key; was the upload finished?' };
  const cheap = checkObjectInfo(env, row, info);
  if (cheap) return cheap;
  if (!headProvesBytes(env, info) && (await hashObject(storage, row.storageKey)) !== row.digest) {
    return { reason: 'digest_mismatch_remote_hash', detail: 'sha256 of the stored bytes differs from the digest' };
  }
  return null;
}

/**
 * Whether a HEAD that passed {@link checkObjectInfo} settles the bytes: the store hashed them
 * itself, or no download-and-hash check is asked for (off, or the object is over its cap).
 */
export function headProvesBytes(env: Env, info: ObjectInfo): boolean {
  return (
    info.computedSha256 !== null || !env.AETHER_VERIFY_REMOTE_HASH || info.sizeBytes > env.AETHER_REMOTE_HASH_MAX_BYTES
  );
}

/** The checks a HEAD answers: size, declared sha256 metadata, and the sha256 the store computed. */
export function checkObjectInfo(env: Env, row: ArtifactRow, info: ObjectInfo): Finding | null {
  if (env.AETHER_VERIFY_REMOTE_SIZE && info.sizeBytes !== row.sizeBytes) {
    return { reason: 'size_mismatch', detail: `stored ${info.sizeBytes} bytes, declared ${row.sizeBytes}` };
  }
  if (env.AETHER_VERIFY_REMOTE_DIGEST && info.declaredSha256 !== null && info.declaredSha256 !== row.digest) {
    return { reason: 'digest_mismatch_remote', detail: 'object metadata sha256 differs from the digest' };
  }
  if (info.computedSha256 !== null && info.computedSha256 !== row.digest) {
    return { reason: 'digest_mismatch_remote_hash', detail: 'sha256 of the stored bytes differs from the digest' };
  }
  return null;
}
