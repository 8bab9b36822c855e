import { and, desc, eq, gte, inArray, isNotNull, lt, type SQL } from 'drizzle-orm';
import { auditLog } from '../../../db/schema';
import type { Actor } from '../../auth/roles';
import type { TAuditListInput, TAuditPage, TAuditRecord } from '../../contract/audit';
import { AppError } from '../../errors';
import type { ServiceCtx } from '../context';

type Row = typeof auditLog.$inferSelect;

// Ids are a bigserial: the cursor is the last id shown, opaque so its form may change.
function encodeCursor(id: number): string {
  return Buffer.from(`audit:${id}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^audit:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  const id = match ? Number(match[1]) : NaN;
  if (!Number.isSafeInteger(id)) throw new AppError('bad_request', 'invalid cursor');
  return id;
}

/**
 * What `actor` may read: admins everything; others only records of their teams (any team
 * when unlimited). Records outside any team (tokens, sign-ins, queues) are for admins only.
 */
export function visibleTo(actor: Pick<Actor, 'role' | 'teams'>): SQL | undefined {
  if (actor.role === 'admin') return undefined;
  return actor.teams == null ? isNotNull(auditLog.team) : inArray(auditLog.team, [...actor.teams]);
}

function toRecord(row: Row): TAuditRecord {
  return {
    id: row.id,
    at: row.createdAt.toISOString(),
    actor: row.actor,
    actor_role: row.actorRole,
    team: row.team,
    action: row.action,
    target: row.target,
    request_id: row.requestId,
    outcome: row.outcome,
    detail: row.detail,
  };
}

/** Newest first, in keyset pages by id, filtered and limited to what the caller may see. */
export async function listAudit(ctx: Pick<ServiceCtx, 'db' | 'actor'>, input: TAuditListInput): Promise<TAuditPage> {
  if (input.since && input.until && new Date(input.since) >= new Date(input.until)) {
    throw new AppError('bad_request', 'since must be before until');
  }
  if (ctx.actor.teams?.length === 0) return { items: [], next_cursor: null };
  const where = and(
    visibleTo(ctx.actor),
    input.app_name ? eq(auditLog.target, input.app_name) : undefined,
    input.team ? eq(auditLog.team, input.team) : undefined,
    input.actor ? eq(auditLog.actor, input.actor) : undefined,
    input.action ? eq(auditLog.action, input.action) : undefined,
    input.outcome ? eq(auditLog.outcome, input.outcome) : undefined,
    input.since ? gte(auditLog.createdAt, new Date(input.since)) : undefined,
    input.until ? lt(auditLog.createdAt, new Date(input.until)) : undefined,
    input.cursor ? lt(auditLog.id, decodeCursor(input.cursor)) : undefined,
  );
  const rows = await ctx.db.select().from(auditLog).where(where).orderBy(desc(auditLog.id)).limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return { items: page.map(toRecord), next_cursor: rows.length > input.limit && last ? encodeCursor(last.id) : null };
}
