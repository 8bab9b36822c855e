import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { applications } from './apps';

/**
 * One variable of a config version. A plain variable keeps its value; a secret keeps only
 * `sealed`, its AES-256-GCM ciphertext (server/secrets), never its plaintext.
 */
export interface StoredConfigEntry {
  secret: boolean;
  value?: string;
  sealed?: string;
  /** ISO-8601: when this value was set (carried over unchanged into later versions). */
  set_at: string;
  set_by: string;
}

/** Per-app settings recorded in a release; null means the environment's default. */
export interface StoredAppSettings {
  start_command: string | null;
  health_path: string | null;
  health_timeout_secs: number | null;
}

/** What a version changed relative to the one it was made from: names only, never values. */
export interface StoredConfigChanges {
  set: string[];
  unset: string[];
  settings: string[];
  /** Set when the version restores an earlier one (a rollback). */
  restored_from?: number;
}

/**
 * Immutable config versions: an app's variables and settings as one release saw them. Every
 * change makes a new version; deployments record the version they run with, so a rollback
 * restores both artifact and config. Only the re-encryption job rewrites `entries`, and only
 * a secret's ciphertext (same plaintext, newer key).
 */
export const configVersions = pgTable(
  'config_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    appId: uuid('app_id').notNull().references(() => applications.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    entries: jsonb('entries').$type<Record<string, StoredConfigEntry>>().notNull().default({}),
    settings: jsonb('settings').$type<StoredAppSettings>().notNull().default({ start_command: null, health_path: null, health_timeout_secs: null }),
    changes: jsonb('changes').$type<StoredConfigChanges>().notNull().default({ set: [], unset: [], settings: [] }),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('config_versions_app_version_uniq').on(t.appId, t.version),
    index('config_versions_app_idx').on(t.appId, t.version.desc()),
    check('config_versions_version_positive', sql`version >= 1`),
  ],
);
