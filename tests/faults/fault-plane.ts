import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, startPlaneProcess, type PlaneProcess } from '../support/control-plane-process';
import { TOKENS } from '../support/harness';
import { createScratchDatabase, PG_ADMIN_URL } from '../support/pg';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis';
import { startTcpForwarder, type TcpForwarder } from '../support/tcp-forwarder';

export interface FaultPlane {
  plane: PlaneProcess;
  /** Between the control plane and its PostgreSQL: cut it to take the database away. */
  pgLink: TcpForwarder;
  databaseUrl: string;
  /** An API call as the deployer, through the plane's REST face. */
  api(method: string, route: string, body?: unknown): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The production control plane (the built server/http/main.ts, workers inline) as its own
 * process, on a scratch database reached through a TCP forwarder the test can cut, the real
 * Redis under a fresh queue prefix, and the fs store in a temp dir.
 */
export async function startFaultPlane(env: Record<string, string> = {}): Promise<FaultPlane> {
  const scratch = await createScratchDatabase();
  const admin = new URL(PG_ADMIN_URL);
  const pgLink = await startTcpForwarder({ host: admin.hostname, port: Number(admin.port || 5432) });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'aether-fault-'));
  const prefix = `fault-${randomUUID()}`;
  const databaseUrl = pgLink.url(scratch.url);
  const plane = await startPlaneProcess(
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      AETHER_QUEUE_PREFIX: prefix,
      AETHER_DATA_DIR: dataDir,
      AETHER_API_TOKENS: Object.entries(TOKENS)
        .map(([role, token]) => `${token}:${role}:${role}-user`)
        .join(','),
      AETHER_LOG_LEVEL: 'warn',
      AETHER_DB_CONNECT_TIMEOUT_SECS: '2',
      ...env,
    },
    await freePort(),
  );
  return {
    plane,
    pgLink,
    databaseUrl: scratch.url,
    api: (method, route, body) =>
      fetch(`${plane.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKENS.deployer}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      }),
    async close() {
      pgLink.restore();
      await plane.stop();
      await pgLink.close();
      await scratch.drop();
      await deletePrefix(prefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
