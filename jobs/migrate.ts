/**
 * `node --import tsx jobs/migrate.ts`: applies the committed migrations to DATABASE_URL and
 * exits. The Helm chart runs it as a pre-install/pre-upgrade hook and docker-compose as a
 * one-shot service, so new code never starts on an old schema. Web and worker still migrate
 * at boot (a no-op by then), under the same advisory lock, so running both is safe.
 */
import { loadEnv } from '../server/env';
import { createLogger } from '../server/logger';
import { migrateDatabase } from '../server/migrate';

const env = loadEnv();
const log = createLogger(env.AETHER_LOG_LEVEL, { svc: 'aether-migrate' });

// PGlite lives in one process's data dir: migrating it from a separate job would migrate nothing
// the web process uses.
if (!env.DATABASE_URL) {
  log.error('DATABASE_URL is required: the migration job runs against PostgreSQL');
  process.exit(2);
}

const started = performance.now();
try {
  await migrateDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.AETHER_DATA_DIR });
  log.info('migrations applied', { durationMs: Math.round(performance.now() - started) });
} catch (err) {
  // The driver's message names the failing statement or host, never the URL's password.
  log.error('migration failed', { err });
  process.exitCode = 1;
}
