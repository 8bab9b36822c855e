import { sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { AppError } from '../errors';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Keyset cursors for newest-first lists: `(created_at, id)` of the last row shown, opaque to
 * clients. Keyset rather than offset so page 200 costs what page 1 does.
 */
function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  // A strict uuid: anything looser (36 dashes) reaches the uuid column and fails there, a 500.
  if (!id || Number.isNaN(createdAt.getTime()) || !UUID_RE.test(id)) throw new AppError('bad_request', 'invalid cursor');
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

/**
 * Cuts a `limit + 1` query result into one page and the cursor of the next (null on the last
 * page): the extra row only says that there is more.
 */
export function keysetPage<T>(rows: T[], limit: number, keyOf: (row: T) => { createdAt: Date; id: string }): { page: T[]; next_cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, next_cursor: rows.length > limit && last ? encodeCursor(keyOf(last).createdAt, keyOf(last).id) : null };
}
