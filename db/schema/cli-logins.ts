import { sql } from 'drizzle-orm';
import { check, pgTable, text, timestamp, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { ROLES, sqlList, type Role } from './enums';
import { apiTokens } from './identity';

/** consumed: the token was handed out (once); expired: nobody finished in time. Only pending and approved move on. */
export const CLI_LOGIN_STATUSES = ['pending', 'approved', 'denied', 'consumed', 'expired'] as const;
export type CliLoginStatus = (typeof CLI_LOGIN_STATUSES)[number];

/**
 * Device-authorization logins for the CLI (`aether login`). The CLI holds the device code
 * (stored here as sha256 only, like tokens); the human types or follows the short user code
 * in the portal, where a signed-in user approves it with their own role.
 */
export const cliLogins = pgTable(
  'cli_logins',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    deviceCodeHash: text('device_code_hash').notNull().unique(),
    userCode: varchar('user_code', { length: 9 }).notNull(),
    status: text('status').$type<CliLoginStatus>().notNull().default('pending'),
    approvedByName: text('approved_by_name'),
    approvedRole: text('approved_role').$type<Role>(),
    // The approver's teams (null: every team): the CLI token is never broader than its approver.
    approvedTeams: text('approved_teams').array(),
    // The approver's database token (null: an environment token): the CLI token never outlives its grant.
    approvedByTokenId: uuid('approved_by_token_id'),
    tokenId: uuid('token_id').references(() => apiTokens.id, { onDelete: 'set null' }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    // Polling faster than the advertised interval gets `slow_down` instead of another lookup.
    lastPolledAt: timestamp('last_polled_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // A code names one login only while someone may still act on it; old rows may reuse it.
    uniqueIndex('cli_logins_pending_user_code_uniq').on(t.userCode).where(sql`status = 'pending'`),
    check('cli_logins_status_check', sql.raw(`status in (${sqlList(CLI_LOGIN_STATUSES)})`)),
    check('cli_logins_role_check', sql.raw(`approved_role is null or approved_role in (${sqlList(ROLES)})`)),
    check('cli_logins_user_code_format', sql`user_code ~ '^[A-Z]{4}-[A-Z]{4}$'`),
  ],
);
