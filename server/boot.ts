import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { openDb, type DbHandle } from '../db/client';
import { attachTokenCache } from './auth/token-cache';
import { parseStaticTokens } from './auth/tokens';
import { loadEnv, type Env } from './env';
import { createLogger, type Logger } from './logger';
import { getMetrics } from './metrics';
import { createRedis } from './queues/connection';
import { createNotifier } from './queues/notifier';
import { createQueues } from './queues/producers';
import { createSecretBoxFromEnv } from './secrets/secrets-key';
import { createKubernetesRuntimeFromEnv } from './runtime/kubernetes.driver';
import { createLocalRuntime } from './runtime/local.driver';
import type { SandboxSettings } from './runtime/local/sandbox/sandbox';
import { parsePortRange } from './runtime/local/ports';
import { parseUidRange } from './runtime/local/sandbox/uids';
import { RouteTable } from './runtime/local/router/route-table';
import { createServingRouter } from './runtime/local/router/serving';
import type { AppRouter, Services } from './services/context';
import { pendingUploadGate } from './services/artifacts/upload-gate';
import { recordHealth } from './services/apps/health.service';
import { createStorage } from './storage/index';

export interface ServicesHandle {
  services: Services;
  close(): Promise<void>;
}

/**
 * Builds every long-lived dependency of one process: database (migrated), storage, queues,
 * runtime. Tests call this with their own Env; the app uses the `getServices` singleton.
 */
export async function createServices(env: Env, opts: { log?: Logger; migrate?: boolean } = {}): Promise<ServicesHandle> {
  const log = opts.log ?? createLogger(env.AETHER_LOG_LEVEL, { svc: 'aether' });
  // The control plane's alone (database, storage secret, logs): apps run as other users.
  await mkdir(env.AETHER_DATA_DIR, { recursive: true, mode: 0o700 });
  await chmod(env.AETHER_DATA_DIR, 0o700);
  // A missing or malformed key stops the boot before anything is opened.
  const secrets = await createSecretBoxFromEnv(env, log);
  // Storage first: a bad storage config fails before a database is open to leak.
  const storageHandle = await createStorage(env, log);
  const storage = storageHandle.driver;
  const dbHandle: DbHandle = await openDb({
    databaseUrl: env.DATABASE_URL,
    dataDir: env.AETHER_DATA_DIR,
    poolMax: env.AETHER_DB_POOL_MAX,
    prepare: env.AETHER_DB_PREPARE,
    connectTimeoutSecs: env.AETHER_DB_CONNECT_TIMEOUT_SECS,
    statementTimeoutMs: env.AETHER_DB_STATEMENT_TIMEOUT_MS,
  });
  if (opts.migrate !== false) await dbHandle.migrate();
  storageHandle.gatePuts(pendingUploadGate(dbHandle.db));

  // Requests enqueue and publish on this connection: with Redis down they fail after one
  // reconnect attempt or the timeout (a 503), rather than wait in ioredis's offline queue.
  const redis = createRedis(env.REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: env.AETHER_REDIS_COMMAND_TIMEOUT_MS });
  redis.on('error', (err) => log.warn('redis connection error', { err }));
  const queues = createQueues(redis, env.AETHER_QUEUE_PREFIX);
  const notifier = createNotifier(redis, () => createRedis(env.REDIS_URL), `${env.AETHER_QUEUE_PREFIX}:changes`);
  const metrics = getMetrics();
  const detachTokenCache = attachTokenCache(dbHandle.db, notifier, { onLookup: (result) => metrics.tokenCacheLookups.inc({ result }) });
  const runtimeLog = (msg: string, fields?: object) => log.info(msg, fields as Record<string, unknown>);
  const routes = new RouteTable();
  const router = env.AETHER_RUNTIME === 'kubernetes' ? undefined : appRouterOf(env, routes, log);
  const runtime =
    env.AETHER_RUNTIME === 'kubernetes'
      ? createKubernetesRuntimeFromEnv(env, runtimeLog)
      : createLocalRuntime({
          dataDir: env.AETHER_DATA_DIR,
          source: (key) => storage.openRead(key),
          healthTimeoutMs: env.AETHER_HEALTH_TIMEOUT_SECS * 1000,
          log: runtimeLog,
          warn: (msg, fields) => log.warn(msg, fields as Record<string, unknown>),
          sandbox: sandboxSettingsOf(env),
          watchIntervalMs: env.AETHER_APP_LIMIT_CHECK_MS,
          portRange: parsePortRange(env.AETHER_APP_PORT_RANGE),
          routes,
          router,
          drainTimeoutMs: env.AETHER_DRAIN_TIMEOUT_SECS * 1000,
          // Pushed by supervision, outside any request: a failure to record is logged, not thrown.
          onHealth: (report) =>
            void recordHealth(services, report).catch((err: unknown) => log.warn('recording app health failed', { err, appName: report.appName })),
        });

  const services: Services = {
    env,
    db: dbHandle.db,
    dbKind: dbHandle.kind,
    storage,
    queues,
    notifier,
    runtime,
    log,
    metrics,
    staticTokens: parseStaticTokens(env.AETHER_API_TOKENS, env.AETHER_API_TOKEN),
    secrets,
    router,
  };
  return {
    services,
    async close() {
      await router?.close();
      detachTokenCache();
      await notifier.close();
      await queues.close();
      redis.disconnect();
      await dbHandle.close();
      storageHandle.close();
    },
  };
}

/** The router over `routes`, listening on AETHER_ROUTER_HOST:PORT once a worker process asks. */
function appRouterOf(env: Env, routes: RouteTable, log: Logger): AppRouter & { ready(): Promise<unknown> | null } {
  const router = createServingRouter({
    table: routes,
    domain: env.AETHER_ROUTER_DOMAIN,
    engine: env.AETHER_ROUTER_ENGINE,
    log,
    haproxyPidFile: path.join(env.AETHER_DATA_DIR, 'runtime', 'router-haproxy.pid'),
  });
  let listening: Promise<{ port: number }> | null = null;
  return {
    url: (appName) => router.url(appName),
    deploymentUrl: (appName, deploymentId) => router.deploymentUrl(appName, deploymentId),
    listen: () =>
      (listening ??= router.listen(env.AETHER_ROUTER_PORT, env.AETHER_ROUTER_HOST).catch((err: unknown) => {
        listening = null; // not listening: URLs fall back to the instances' own
        throw err;
      })),
    ready: () => listening,
    async close() {
      if (!listening) return;
      await listening.catch(() => undefined);
      listening = null;
      await router.close();
    },
  };
}

function sandboxSettingsOf(env: Env): Partial<SandboxSettings> {
  return {
    uidRange: parseUidRange(env.AETHER_APP_UID_RANGE),
    memoryBytes: env.AETHER_APP_MEMORY_LIMIT_BYTES,
    pids: env.AETHER_APP_PIDS_LIMIT,
    nofile: env.AETHER_APP_NOFILE_LIMIT,
    cpu: env.AETHER_APP_CPU_LIMIT,
    diskBytes: env.AETHER_APP_DISK_LIMIT_BYTES,
    production: env.NODE_ENV === 'production',
    unsafeSharedUser: env.AETHER_UNSAFE_SHARED_USER,
    network: env.AETHER_APP_NETWORK,
  };
}

// Next bundles route handlers separately: the process-wide handle lives on globalThis.
const globalForServices = globalThis as unknown as { __aetherServices?: Promise<ServicesHandle> };

/** The process's services, created (and migrated) on first use. */
export function getServicesHandle(): Promise<ServicesHandle> {
  globalForServices.__aetherServices ??= createServices(loadEnv()).catch((err: unknown) => {
    globalForServices.__aetherServices = undefined;
    throw err;
  });
  return globalForServices.__aetherServices;
}

export async function getServices(): Promise<Services> {
  return (await getServicesHandle()).services;
}
