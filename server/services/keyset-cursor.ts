import { sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { AppError } from '../errors';

/**
 * Keyset cursors for newest-first lists: `(created_at, id)` of the last row shown, opaque to
 * clients. Keyset rather than offset so page 200 costs what page 1 does.
 */
export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) throw new AppError('bad_request', 'invalid cursor');
  return { createdAt, id };
}

/**
 * Rows after `cursor` in newest-first `(created_at, id)` order. Compared against the cursor
 * row's own values in the database: the cursor's timestamp has milliseconds, the column has
 * microseconds, and comparing against the rounded value would skip rows on page boundaries.
 */
export function olderThanCursor(cursor: string, table: PgTable, createdAt: AnyColumn, id: AnyColumn): SQL {
  const c = decodeCursor(cursor);
  return sql`(${createdAt}, ${id}) < (select ${createdAt}, ${id} from ${table} where ${id} = ${c.id})`;
}
