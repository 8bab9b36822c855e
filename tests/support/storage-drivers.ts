import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFsStorage, type FsStorage } from '../../server/storage/fs.driver';
import type { StorageDriver } from '../../server/storage/port';
import { createS3Storage } from '../../server/storage/s3.driver';
import { startTestS3 } from './s3';
import { serveWeb } from './web-server';

const MiB = 1024 * 1024;

/** A started driver, reachable through real presigned URLs. */
export interface StartedDriver {
  driver: StorageDriver;
  /** Smallest part but the last that completion accepts: S3's 5 MiB, or less where configurable. */
  minPartBytes: number;
  /** Errors the store hit on its own side (fs: 5xx handler errors); a test expects none. */
  internalErrors: unknown[];
  close(): Promise<void>;
}

/** One storage driver the conformance suite runs against. */
export interface DriverFactory {
  name: 'fs' | 's3';
  start(): Promise<StartedDriver>;
}

/** fs driver under a temp dir, its URLs served by a real HTTP server (as the control plane does). */
export const fsDriver: DriverFactory = {
  name: 'fs',
  async start() {
    const root = await mkdtemp(join(tmpdir(), 'aether-storage-fs-'));
    const internalErrors: unknown[] = [];
    let storage: FsStorage | undefined;
    // The base URL exists only once the server listens; the handler finds storage lazily.
    const server = await serveWeb((req) => storage!.handleRequest(req));
    storage = createFsStorage({
      rootDir: root,
      baseUrl: server.url,
      secret: randomBytes(32),
      maxObjectBytes: 64 * MiB,
      // Small parts keep the fs multipart tests fast; S3's real 5 MiB rule is the s3 run's job.
      minPartBytes: 64 * 1024,
      onInternalError: (err) => internalErrors.push(err),
    });
    return {
      driver: storage,
      minPartBytes: 64 * 1024,
      internalErrors,
      async close() {
        await server.close();
        await rm(root, { recursive: true, force: true });
      },
    };
  },
};

/** s3 driver against fauxqs (behind the SigV4-checking proxy), one bucket per start. */
export const s3Driver: DriverFactory = {
  name: 's3',
  async start() {
    const s3 = await startTestS3();
    const driver = createS3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
    return {
      driver,
      minPartBytes: 5 * MiB,
      internalErrors: [],
      async close() {
        driver.close();
        await s3.stop();
      },
    };
  },
};

/** Every driver, for `describe.each`. */
export const drivers: DriverFactory[] = [fsDriver, s3Driver];
