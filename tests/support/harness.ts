import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { applications } from '../../db/schema';
import { startWorkers, type RunningWorkers } from '../../jobs/start';
import type { Role } from '../../server/auth/roles';
import { createServices } from '../../server/boot';
import { loadEnv } from '../../server/env';
import { createLogger } from '../../server/logger';
import type { Services } from '../../server/services/context';
import { createInnerContext } from '../../server/trpc/init';
import { createCaller } from '../../server/trpc/root';
import { appPortRangeOfThisWorker } from './app-port-range';
import { createScratchDatabase } from './pg';
import { deletePrefix, TEST_REDIS_URL } from './redis';
import { createHttpServer } from '../../server/http/edge';
import { createEdge } from '../../server/http/router';
import { listenLocal, type WebServer } from './web-server';

export type DbKind = 'pglite' | 'postgres';
export const DB_KINDS: DbKind[] = ['pglite', 'postgres'];

/** Tokens the test control plane accepts, one per role. */
export const TOKENS = {
  admin: 'test-admin-token-0001',
  deployer: 'test-deployer-token-0001',
  reader: 'test-reader-token-0001',
} as const satisfies Record<Role, string>;

/** `AETHER_API_TOKENS` entries (`token:role:name`) for TOKENS, one user per role. */
export const TOKEN_ENTRIES = Object.entries(TOKENS).map(([role, token]) => `${token}:${role}:${role}-user`);

export interface TestPlane {
  services: Services;
  /** The control plane over real HTTP, behind its node:http edge: REST at the seed's paths, `/api/trpc`, `/storage/...`, `/openapi.json`. */
  url: string;
  dataDir: string;
  caller(role: Role | null): ReturnType<typeof createCaller>;
  startWorkers(): RunningWorkers;
  close(): Promise<void>;
}

/**
 * One control plane for the enclosing suite: started in its beforeAll, closed in its afterAll.
 * Call the returned getter inside tests and hooks, not while the suite is being collected.
 */
export function suitePlane(kind: DbKind, extraEnv: Record<string, string> = {}, opts: PlaneOptions = {}): () => TestPlane {
  let plane: TestPlane | undefined;
  beforeAll(async () => {
    plane = await startTestPlane(kind, extraEnv, opts);
  });
  afterAll(async () => {
    await plane?.close();
  });
  return () => {
    if (!plane) throw new Error('the suite plane is not started: use it inside a test or hook');
    return plane;
  };
}

export interface PlaneOptions {
  /** Receives every line the control plane (and in-process workers) logs, at every level; default: errors to stderr. */
  logLine?: (line: string) => void;
}

/**
 * A control plane on real infrastructure, isolated per call: its own data dir, its own
 * database (PGlite in the data dir, or a scratch database on the real PostgreSQL), and its own
 * BullMQ prefix on the real Redis. Served over HTTP for tRPC and the storage driver's URLs.
 */
export async function startTestPlane(kind: DbKind, extraEnv: Record<string, string> = {}, opts: PlaneOptions = {}): Promise<TestPlane> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'aether-test-'));
  const scratch = kind === 'postgres' ? await createScratchDatabase() : null;
  const prefix = `test-${randomUUID()}`;
  // The production route table (server/http/router.ts); requests wait for the services to boot.
  let servicesStarted!: (services: Services) => void;
  const servicesReady = new Promise<Services>((resolve) => (servicesStarted = resolve));
  const server: WebServer = await listenLocal(createHttpServer(createEdge(() => servicesReady)));
  const env = loadEnv({
    AETHER_DATA_DIR: dataDir,
    AETHER_PUBLIC_URL: server.url,
    DATABASE_URL: scratch?.url,
    REDIS_URL: TEST_REDIS_URL,
    AETHER_QUEUE_PREFIX: prefix,
    AETHER_API_TOKENS: TOKEN_ENTRIES.join(','),
    AETHER_HEALTH_TIMEOUT_SECS: '20',
    // Files run in parallel: each plane's router takes a free port, not the default 8080.
    AETHER_ROUTER_PORT: '0',
    AETHER_APP_PORT_RANGE: appPortRangeOfThisWorker('in-process'),
    AETHER_LOG_LEVEL: 'warn',
    ...extraEnv,
  });
  const { logLine } = opts;
  const log = logLine ? createLogger('trace', {}, (line) => (logLine(line), true)) : createLogger('error');
  const handle = await createServices(env, { log });
  const svc = handle.services;
  servicesStarted(svc);
  const workers: RunningWorkers[] = [];

  return {
    services: svc,
    url: server.url,
    dataDir,
    caller(role) {
      const actor = role ? { name: `${role}-user`, role, tokenId: null, teams: null } : null;
      return createCaller(createInnerContext(svc, actor));
    },
    startWorkers() {
      const w = startWorkers(svc);
      workers.push(w);
      return w;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop(5000)));
      // Apps the tests rolled out are real processes: stop them all.
      for (const app of await svc.db.select({ name: applications.name }).from(applications)) await svc.runtime.stop(app.name);
      await server.close();
      await handle.close();
      await scratch?.drop();
      await deletePrefix(prefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
