import { sql } from 'drizzle-orm';
import { bigserial, check, index, integer, pgTable, text, timestamp, uniqueIndex, uuid, varchar, type AnyPgColumn } from 'drizzle-orm/pg-core';
import { applications } from './apps';
import { artifacts } from './artifacts';
import { configVersions } from './config';
import { DEPLOYMENT_STATUSES, IN_FLIGHT_DEPLOYMENT_STATUSES, sqlList, type DeploymentStatus } from './enums';

export const deployments = pgTable(
  'deployments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    appId: uuid('app_id').notNull().references(() => applications.id, { onDelete: 'cascade' }),
    // restrict: an artifact a deployment ran cannot vanish from under its history or rollback.
    artifactId: uuid('artifact_id').notNull().references(() => artifacts.id, { onDelete: 'restrict' }),
    digest: varchar('digest', { length: 64 }).notNull(),
    // The release's config: restrict, so the version a deployment ran cannot vanish from under its rollback.
    configVersionId: uuid('config_version_id').notNull().references(() => configVersions.id, { onDelete: 'restrict' }),
    status: text('status').$type<DeploymentStatus>().notNull().default('pending'),
    failureReason: text('failure_reason'),
    url: text('url'),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastTransitionAt: timestamp('last_transition_at', { withTimezone: true }).notNull().defaultNow(),
    rolloutStartedAt: timestamp('rollout_started_at', { withTimezone: true }),
    rolloutCompletedAt: timestamp('rollout_completed_at', { withTimezone: true }),
    // Set on a rollback: the earlier deployment whose artifact this one runs again. The one it
    // replaces becomes `rolled_back` instead of `superseded`.
    rollbackOf: uuid('rollback_of').references((): AnyPgColumn => deployments.id, { onDelete: 'set null' }),
  },
  (t) => [
    // The lists' `created_at desc, id desc`, read backward (as on artifacts), of one app or of all.
    index('deployments_app_created_id_idx').on(t.appId, t.createdAt, t.id),
    index('deployments_created_id_idx').on(t.createdAt, t.id),
    index('deployments_status_idx').on(t.status),
    // Creating a deployment is idempotent per release (app + digest + config) while one is in flight.
    uniqueIndex('deployments_in_flight_uniq')
      .on(t.appId, t.digest, t.configVersionId)
      .where(sql.raw(`status in (${sqlList(IN_FLIGHT_DEPLOYMENT_STATUSES)})`)),
    check('deployments_status_check', sql.raw(`status in (${sqlList(DEPLOYMENT_STATUSES)})`)),
  ],
);

/** One row per rollout phase (fetch, verify, unpack, start, health, switch) or transition. */
export const deploymentEvents = pgTable(
  'deployment_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deploymentId: uuid('deployment_id').notNull().references(() => deployments.id, { onDelete: 'cascade' }),
    phase: text('phase').notNull(),
    message: text('message').notNull().default(''),
    durationMs: integer('duration_ms'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('deployment_events_deployment_idx').on(t.deploymentId, t.id)],
);
