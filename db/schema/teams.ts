import { sql } from 'drizzle-orm';
import { check, pgTable, timestamp, varchar } from 'drizzle-orm/pg-core';

/** The default team: every app created without one, and every app that existed before teams. */
export const DEFAULT_TEAM = 'default';

/**
 * Who owns apps. A token limited to teams sees and acts on those teams' apps only. Keyed by
 * name: apps, tokens and audit records carry the name, so a lookup never needs a join.
 */
export const teams = pgTable(
  'teams',
  {
    name: varchar('name', { length: 63 }).primaryKey(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  () => [check('teams_name_dns_label', sql`name ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'`)],
);
