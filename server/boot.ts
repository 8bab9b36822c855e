import { mkdir } from 'node:fs/promises';
import { openDb, type DbHandle } from '../db/client';
import { parseStaticTokens } from './auth/tokens';
import { loadEnv, type Env } from './env';
import { createLogger, type Logger } from './logger';
import { getMetrics } from './metrics';
import { createRedis } from './queues/connection';
import { createNotifier } from './queues/notifier';
import { createQueues } from './queues/producers';
import { createKubernetesRuntimeFromEnv } from './runtime/kubernetes.driver';
import { createLocalRuntime } from './runtime/local.driver';
import type { Services } from './services/context';
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
  await mkdir(env.AETHER_DATA_DIR, { recursive: true });
  // Storage first: a bad storage config fails before a database is open to leak.
  const storageHandle = await createStorage(env, log);
  const storage = storageHandle.driver;
  const dbHandle: DbHandle = await openDb({ databaseUrl: env.DATABASE_URL, dataDir: env.AETHER_DATA_DIR });
  if (opts.migrate !== false) await dbHandle.migrate();

  const redis = createRedis(env.REDIS_URL);
  redis.on('error', (err) => log.warn('redis connection error', { err }));
  const queues = createQueues(redis, env.AETHER_QUEUE_PREFIX);
  const notifier = createNotifier(redis, () => createRedis(env.REDIS_URL), `${env.AETHER_QUEUE_PREFIX}:changes`);
  const runtimeLog = (msg: string, fields?: object) => log.info(msg, fields as Record<string, unknown>);
  const runtime =
    env.AETHER_RUNTIME === 'kubernetes'
      ? createKubernetesRuntimeFromEnv(env, runtimeLog)
      : createLocalRuntime({
          dataDir: env.AETHER_DATA_DIR,
          source: (key) => storage.openRead(key),
          healthTimeoutMs: env.AETHER_HEALTH_TIMEOUT_SECS * 1000,
          log: runtimeLog,
        });

  const services: Services = {
    env,
    db: dbHandle.db,
    dbKind: dbHandle.kind,
    storage,
    storageHttp: storageHandle.http,
    queues,
    notifier,
    runtime,
    log,
    metrics: getMetrics(),
    staticTokens: parseStaticTokens(env.AETHER_API_TOKENS, env.AETHER_API_TOKEN),
  };
  return {
    services,
    async close() {
      await notifier.close();
      await queues.close();
      redis.disconnect();
      await dbHandle.close();
      storageHandle.close();
    },
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
