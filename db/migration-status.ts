import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { Db } from './client';

const DEFAULT_MIGRATIONS_DIR = path.join(process.cwd(), 'db', 'migrations');

let journalCount: Promise<number> | undefined;

/** How many committed migrations this build ships (drizzle-kit's journal). Read once per process. */
function shippedMigrations(migrationsFolder: string): Promise<number> {
  journalCount ??= readFile(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8').then(
    (text) => (JSON.parse(text) as { entries: unknown[] }).entries.length,
  );
  return journalCount;
}

/**
 * Migrations this build ships that the database has not applied yet (0 once migrated): what
 * `/startupz` reports. A database never migrated has all of them pending.
 */
export async function pendingMigrations(db: Db, migrationsFolder = DEFAULT_MIGRATIONS_DIR): Promise<number> {
  const shipped = await shippedMigrations(migrationsFolder);
  try {
    const result = await db.execute<{ n: number }>(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    // postgres.js answers an array of rows, PGlite `{ rows }`.
    const rows = Array.isArray(result) ? result : (result as unknown as { rows: Array<{ n: number }> }).rows;
    return Math.max(0, shipped - Number(rows[0]?.n ?? 0));
  } catch (err) {
    // 42P01 undefined_table / 3F000 invalid_schema: nothing migrated yet.
    const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    if (code === '42P01' || code === '3F000') return shipped;
    throw err;
  }
}
