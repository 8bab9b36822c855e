import os from 'node:os';
import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type DbHandle, type Tx } from '@/db/client';
import { applications } from '@/db/schema';
import { createScratchDatabase } from '../support/pg';

/**
 * drizzle sends every query with `prepare: false` unless built with `.prepare(name)`; the
 * PostgreSQL client turns that around (db/client.ts). What PostgreSQL itself lists in
 * pg_prepared_statements, on the connection a transaction holds, decides.
 */
let db: { url: string; drop(): Promise<void> };
const handles: DbHandle[] = [];

beforeAll(async () => {
  db = await createScratchDatabase();
  const first = await openDb({ databaseUrl: db.url, dataDir: os.tmpdir(), poolMax: 1 });
  await first.migrate();
  handles.push(first);
});
afterAll(async () => {
  for (const h of handles) await h.close();
  await db?.drop();
});

/** The statements prepared on the transaction's connection after `run`, as PostgreSQL lists them. */
async function preparedAfter(handle: DbHandle, run: (tx: Tx) => Promise<unknown>): Promise<string[]> {
  return handle.db.transaction(async (tx) => {
    await run(tx);
    // postgres.js answers execute() with the rows themselves.
    const rows = (await tx.execute(sql`select statement from pg_prepared_statements`)) as unknown as Array<{
      statement: string;
    }>;
    return rows.map((r) => r.statement);
  });
}

describe('prepared statements on PostgreSQL', () => {
  it('a parameterised drizzle query in a transaction and in a savepoint is prepared', async () => {
    const handle = handles[0]!;
    const statements = await preparedAfter(handle, async (tx) => {
      await tx.select({ id: applications.id }).from(applications).where(eq(applications.name, 'in-transaction'));
      await tx.transaction((sp) =>
        sp.select({ team: applications.team }).from(applications).where(eq(applications.name, 'in-savepoint')),
      );
    });
    expect(
      statements.some((s) => s.startsWith('select "id" from "applications" where "applications"."name" = $1')),
    ).toBe(true);
    expect(
      statements.some((s) => s.startsWith('select "team" from "applications" where "applications"."name" = $1')),
    ).toBe(true);
  });

  it('a query with more than 64 parameters (a variable-length IN list) is not kept; one with 64 is', async () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `app-${i}`);
    const statements = await preparedAfter(handles[0]!, async (tx) => {
      await tx
        .select({ id: applications.id })
        .from(applications)
        .where(inArray(applications.name, names(64)));
      await tx
        .select({ id: applications.id })
        .from(applications)
        .where(inArray(applications.name, names(65)));
    });
    const inLists = statements.filter((s) => s.includes(' in ('));
    expect(inLists.map((s) => (s.includes('$65') ? 65 : s.includes('$64') ? 64 : 0))).toEqual([64]);
  });

  it('prepare: false (AETHER_DB_PREPARE=false, for poolers in transaction mode) prepares nothing', async () => {
    const handle = await openDb({ databaseUrl: db.url, dataDir: os.tmpdir(), poolMax: 1, prepare: false });
    handles.push(handle);
    const statements = await preparedAfter(handle, (tx) =>
      tx.select({ id: applications.id }).from(applications).where(eq(applications.name, 'unprepared')),
    );
    expect(statements).toEqual([]);
  });
});
