import { openDb } from '../db/client';

/**
 * Applies the committed migrations over one connection and closes it: the whole work of the
 * migration job (jobs/migrate.ts), which reaches the database through server/ like the rest
 * of jobs/.
 */
export async function migrateDatabase(opts: { databaseUrl: string; dataDir: string }): Promise<void> {
  const handle = await openDb({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir, poolMax: 1 });
  try {
    await handle.migrate();
  } finally {
    await handle.close();
  }
}
