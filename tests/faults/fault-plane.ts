import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, killLocalApps, startPlaneProcess, type PlaneProcess } from '../support/control-plane-process';
import { TOKEN_ENTRIES, TOKENS } from '../support/harness';
import { createScratchDatabase, PG_ADMIN_URL } from '../support/pg';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis';
import { startTcpForwarder, type TcpForwarder } from '../support/tcp-forwarder';
import { spawnWorkerProcess } from '../support/worker-process';

/** The worker process (`npm run worker`), which a test can SIGKILL and start again. */
export interface WorkerHandle {
  /** Its own /healthz and /metrics. */
  url: string;
  pid(): number | undefined;
  output(): string;
  /** Sends `signal` and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a new worker process (after a kill); resolves once its workers listen. */
  start(): Promise<void>;
}

export interface FaultPlane {
  plane: PlaneProcess;
  /** Between the control plane (and worker) and PostgreSQL: cut it to take the database away. */
  pgLink: TcpForwarder;
  /** The scratch database, directly (not through the link): for invariant checks. */
  databaseUrl: string;
  /** The plane's environment (DATABASE_URL through the link, tokens, data dir...). */
  env: Record<string, string>;
  dataDir: string;
  /** The separate worker process, when started with `workers: 'process'`. */
  worker: WorkerHandle | null;
  /**
   * Starts a new control plane on the same port, environment, data dir, database link and queue
   * prefix, once the old one is gone (`plane.kill`): `plane` is the new one from then on.
   */
  startPlane(): Promise<void>;
  /** An API call through the plane's REST face, as `role` (default deployer). */
  api(method: string, route: string, body?: unknown, role?: keyof typeof TOKENS): Promise<Response>;
  close(): Promise<void>;
}

export interface FaultPlaneOptions {
  /** `inline`: the BullMQ workers run in the web process; `process`: in a separate `npm run worker`. */
  workers?: 'inline' | 'process';
  /** Redis for both processes (default: the machine's); a scratch redis-server for Redis faults. */
  redisUrl?: string;
  env?: Record<string, string>;
}

/**
 * The production control plane (the built server/http/main.ts) as its own process, on a
 * scratch database reached through a TCP forwarder the test can cut, Redis under a fresh queue
 * prefix, and the fs store in a temp dir; with `workers: 'process'`, the BullMQ workers in a
 * separate worker process on the same link, as the chart runs them.
 */
export async function startFaultPlane(opts: FaultPlaneOptions = {}): Promise<FaultPlane> {
  const scratch = await createScratchDatabase();
  const admin = new URL(PG_ADMIN_URL);
  const pgLink = await startTcpForwarder({ host: admin.hostname, port: Number(admin.port || 5432) });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'aether-fault-'));
  const prefix = `fault-${randomUUID()}`;
  const redisUrl = opts.redisUrl ?? TEST_REDIS_URL;
  const env: Record<string, string> = {
    DATABASE_URL: pgLink.url(scratch.url),
    REDIS_URL: redisUrl,
    AETHER_QUEUE_PREFIX: prefix,
    AETHER_DATA_DIR: dataDir,
    AETHER_API_TOKENS: TOKEN_ENTRIES.join(','),
    AETHER_LOG_LEVEL: 'warn',
    AETHER_DB_CONNECT_TIMEOUT_SECS: '2',
    ...opts.env,
  };
  const workers = opts.workers ?? 'inline';
  const planePort = await freePort();
  const startPlane = () =>
    startPlaneProcess({ ...env, AETHER_WORKERS: workers === 'inline' ? 'inline' : 'off' }, planePort);
  let plane = await startPlane();

  let worker: WorkerHandle | null = null;
  if (workers === 'process') {
    const port = await freePort();
    let current = await spawnWorkerProcess(env, port);
    worker = {
      url: `http://127.0.0.1:${port}`,
      pid: () => current.child.pid,
      output: () => current.output(),
      async kill(signal = 'SIGKILL') {
        const { child } = current;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill(signal);
        await exited;
      },
      async start() {
        current = await spawnWorkerProcess(env, port);
      },
    };
  }

  return {
    get plane() {
      return plane;
    },
    pgLink,
    databaseUrl: scratch.url,
    env,
    dataDir,
    worker,
    async startPlane() {
      plane = await startPlane();
    },
    api: (method, route, body, role = 'deployer') =>
      fetch(`${plane.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKENS[role]}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      }),
    async close() {
      pgLink.restore();
      await worker?.kill('SIGTERM');
      await plane.stop();
      // Apps a rollout started outlive the plane by design (a restart re-adopts them).
      await killLocalApps(dataDir);
      await pgLink.close();
      await scratch.drop();
      if (!opts.redisUrl) await deletePrefix(prefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
