import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, timestamp, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';
import { ROLES, sqlList, type Role } from './enums';

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  email: text('email'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * API tokens are stored as sha256(token) only; the plaintext is shown once at creation.
 * `hint` is the last 4 characters, enough to tell tokens apart in a list.
 * A refresh issues a new token in its parent's grant (`grant_id`: the id of the token first
 * issued) with the parent's expiry: revoking a grant ends every token refreshed from it.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tokenHash: text('token_hash').notNull().unique(),
    hint: text('hint').notNull(),
    name: text('name').notNull(),
    role: text('role').$type<Role>().notNull(),
    // Null: every team. Otherwise the only teams whose apps this token sees (never an admin's).
    teams: text('teams').array(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    grantId: uuid('grant_id').notNull(),
    parentId: uuid('parent_id').references((): AnyPgColumn => apiTokens.id, { onDelete: 'set null' }),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('api_tokens_role_check', sql.raw(`role in (${sqlList(ROLES)})`)),
    index('api_tokens_user_idx').on(t.userId),
    index('api_tokens_grant_idx').on(t.grantId),
  ],
);
