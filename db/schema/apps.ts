import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, pgTable, text, timestamp, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { users } from './identity';
import { sqlList } from './enums';
import { DEFAULT_TEAM, teams } from './teams';

/**
 * An app's health, shown apart from its deployment's status. The runtime port's
 * APP_HEALTH_STATES (db/ cannot import server/); a type test keeps the two equal.
 */
export const APP_HEALTH_VALUES = ['healthy', 'degraded', 'restarting', 'crash_loop', 'stopped'] as const;
type AppHealth = (typeof APP_HEALTH_VALUES)[number];

export const applications = pgTable(
  'applications',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // DNS label, validated by the contract and re-checked here so no path can bypass it.
    name: varchar('name', { length: 63 }).notNull().unique(),
    owner: text('owner').notNull(),
    ownerUserId: uuid('owner_user_id').references(() => users.id, { onDelete: 'set null' }),
    team: varchar('team', { length: 63 }).notNull().default(DEFAULT_TEAM).references(() => teams.name, { onDelete: 'restrict' }),
    // The config version the next deploy runs with: the latest change, or a rollback's target.
    // Its foreign key to config_versions is declared in migration 0005 only (schema files
    // cannot name each other without an import cycle).
    configVersionId: uuid('config_version_id'),
    // Per-app overrides of the env-wide defaults; null means "use the default".
    maxArtifacts: integer('max_artifacts'),
    maxTotalBytes: bigint('max_total_bytes', { mode: 'number' }),
    retainLatest: integer('retain_latest'),
    // Largest release this app may unpack to (bytes written by extraction); null: the env default.
    maxUnpackedBytes: bigint('max_unpacked_bytes', { mode: 'number' }),
    // Scale: how many instances should run the current release (0: stopped), the count `start`
    // brings back, and the per-app cap (null: AETHER_MAX_INSTANCES).
    instances: integer('instances').notNull().default(1),
    lastInstances: integer('last_instances').notNull().default(1),
    maxInstances: integer('max_instances'),
    // Health of the current release's instances, apart from its deployment's status; null before any report.
    health: text('health').$type<AppHealth>(),
    healthMessage: text('health_message'),
    healthChangedAt: timestamp('health_changed_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('applications_team_idx').on(t.team),
    check('applications_name_dns_label', sql`name ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'`),
    check('applications_quota_non_negative', sql`coalesce(max_artifacts, 0) >= 0 and coalesce(max_total_bytes, 0) >= 0 and coalesce(retain_latest, 1) >= 1`),
    check('applications_max_unpacked_positive', sql`coalesce(max_unpacked_bytes, 1) >= 1`),
    check('applications_instances_non_negative', sql`instances >= 0`),
    check('applications_last_instances_positive', sql`last_instances >= 1`),
    check('applications_max_instances_positive', sql`coalesce(max_instances, 1) >= 1`),
    check('applications_health_check', sql.raw(`health in (${sqlList(APP_HEALTH_VALUES)})`)),
  ],
);

/** Ed25519 public keys (32 bytes, hex) allowed to sign an app's artifacts. */
export const publicKeys = pgTable(
  'public_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    appId: uuid('app_id').notNull().references(() => applications.id, { onDelete: 'cascade' }),
    publicKeyHex: varchar('public_key_hex', { length: 64 }).notNull(),
    active: boolean('active').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    deactivatedAt: timestamp('deactivated_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('public_keys_app_key_uniq').on(t.appId, t.publicKeyHex),
    index('public_keys_app_active_idx').on(t.appId).where(sql`active`),
    check('public_keys_hex', sql`public_key_hex ~ '^[0-9a-f]{64}$'`),
  ],
);
