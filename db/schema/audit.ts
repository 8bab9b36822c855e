import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { Role } from './enums';

/**
 * Who changed what: one row per mutation, whatever its outcome. Append-only: the code has no
 * update or delete path, and a trigger (migration 0005) refuses both. No foreign keys: a
 * record outlives the app, team or token it names.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    actor: text('actor').notNull(),
    actorRole: text('actor_role').$type<Role>(),
    actorTokenId: uuid('actor_token_id'),
    /** The team of the app acted on; null for actions outside any team (tokens, sign-ins). */
    team: text('team'),
    /** e.g. `config.set`, `apps.create`, `auth.signIn`. */
    action: text('action').notNull(),
    /** What was acted on: an app name, a deployment id, a token id. */
    target: text('target'),
    requestId: text('request_id'),
    /** `ok`, or the error code the caller got. */
    outcome: text('outcome').notNull(),
    /** Names, ids and counts only: never a value, token or secret. */
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index('audit_log_team_idx').on(t.team, t.id.desc()),
    index('audit_log_target_idx').on(t.target, t.id.desc()),
    index('audit_log_created_idx').on(t.createdAt.desc()),
  ],
);
