import { and, eq, lt, or, type AnyColumn, type SQL } from 'drizzle-orm';
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

/** Rows after `cursor` in newest-first order: older, or as old with a smaller id. */
export function olderThanCursor(cursor: string, createdAt: AnyColumn, id: AnyColumn): SQL | undefined {
  const c = decodeCursor(cursor);
  return or(lt(createdAt, c.createdAt), and(eq(createdAt, c.createdAt), lt(id, c.id)));
}
