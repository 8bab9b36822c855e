import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Env } from '../env';
import type { Logger } from '../logger';
import { createFsStorage, type PutGate } from './fs.driver';
import type { StorageDriver } from './port';
import { createS3Storage } from './s3.driver';

/** The process's storage: the driver and its lifecycle. */
export interface StorageHandle {
  driver: StorageDriver;
  /**
   * Installs the gate the fs driver's signed PUTs commit through. S3's URLs never reach us: a
   * no-op there.
   */
  gatePuts(gate: PutGate): void;
  /** Releases the driver's resources (S3 sockets). */
  close(): void;
}

/**
 * Picks the driver from `AETHER_STORAGE_MODE`: `s3` talks to S3/MinIO (credentials from the AWS
 * default chain); `fs`, and its seed alias `mock`, keep objects under the data directory.
 */
export async function createStorage(env: Env, log: Logger): Promise<StorageHandle> {
  if (env.AETHER_STORAGE_MODE === 's3') {
    const driver = createS3Storage({
      bucket: env.AETHER_ARTIFACT_BUCKET,
      endpoint: env.AETHER_S3_ENDPOINT_URL,
      region: env.AWS_REGION,
      sse: env.AETHER_S3_SSE,
      kmsKeyId: env.AETHER_S3_SSE_KMS_KEY,
    });
    // Where, never who: credentials stay with the SDK.
    log.info('storage: s3', {
      bucket: env.AETHER_ARTIFACT_BUCKET,
      endpoint: env.AETHER_S3_ENDPOINT_URL ?? 'aws',
      region: env.AWS_REGION,
      sse: env.AETHER_S3_SSE ?? 'none',
    });
    return { driver, gatePuts: () => undefined, close: () => driver.close() };
  }

  const rootDir = path.join(env.AETHER_DATA_DIR, 'objects');
  const driver = createFsStorage({
    rootDir,
    baseUrl: env.AETHER_PUBLIC_URL,
    secret: await storageSecret(env),
    maxObjectBytes: env.AETHER_MAX_ARTIFACT_SIZE_BYTES || undefined,
    clockSkewSecs: env.AETHER_PRESIGN_SKEW_SECS,
    onInternalError: (err) => log.error('storage request failed', { err }),
  });
  log.info('storage: fs', { rootDir });
  return { driver, gatePuts: (gate) => driver.gatePuts(gate), close: () => undefined };
}

/** The fs driver's HMAC key: from the env, else generated once and kept (0600) in the data dir. */
async function storageSecret(env: Env): Promise<Buffer> {
  if (env.AETHER_STORAGE_SECRET) return Buffer.from(env.AETHER_STORAGE_SECRET, 'utf8');
  const file = path.join(env.AETHER_DATA_DIR, 'storage.secret');
  try {
    return Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
  } catch {
    const secret = randomBytes(32);
    // `wx`: when two processes race, the loser keeps the winner's secret (read back below).
    await writeFile(file, secret.toString('hex'), { mode: 0o600, flag: 'wx' }).catch(async () => undefined);
    return Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
  }
}
