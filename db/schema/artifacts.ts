import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, check, index, pgTable, text, timestamp, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { applications, publicKeys } from './apps';
import { ARTIFACT_STATUSES, sqlList, type ArtifactStatus } from './enums';

/**
 * One row per (app, digest). The digest is unique per app, not globally: quotas, retention,
 * signing keys and storage keys are all per app, and two apps that ship identical bytes must
 * not share (or steal) one another's row.
 */
export const artifacts = pgTable(
  'artifacts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    appId: uuid('app_id').notNull().references(() => applications.id, { onDelete: 'cascade' }),
    digest: varchar('digest', { length: 64 }).notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    status: text('status').$type<ArtifactStatus>().notNull().default('pending'),
    storageKey: text('storage_key').notNull(),
    signature: varchar('signature', { length: 128 }),
    verified: boolean('verified').notNull().default(false),
    verifiedKeyId: uuid('verified_key_id').references(() => publicKeys.id, { onDelete: 'set null' }),
    idempotencyKey: text('idempotency_key'),
    multipartUploadId: text('multipart_upload_id'),
    // The declared size of every multipart part but the last: each part's URL is bound to its size.
    partSizeBytes: bigint('part_size_bytes', { mode: 'number' }),
    failureReason: text('failure_reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    storedAt: timestamp('stored_at', { withTimezone: true }),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('artifacts_app_digest_uniq').on(t.appId, t.digest),
    uniqueIndex('artifacts_app_idempotency_uniq').on(t.appId, t.idempotencyKey).where(sql`idempotency_key is not null`),
    index('artifacts_app_status_created_idx').on(t.appId, t.status, t.createdAt.desc()),
    // The lists' `created_at desc, id desc` (a backward scan; a DESC key would be NULLS LAST and not
    // match it): a page is read in index order, of one app or of all, never sorted.
    index('artifacts_app_created_id_idx').on(t.appId, t.createdAt, t.id),
    index('artifacts_created_id_idx').on(t.createdAt, t.id),
    index('artifacts_status_updated_idx').on(t.status, t.updatedAt),
    check('artifacts_status_check', sql.raw(`status in (${sqlList(ARTIFACT_STATUSES)})`)),
    check('artifacts_digest_hex', sql`digest ~ '^[0-9a-f]{64}$'`),
    check('artifacts_size_non_negative', sql`size_bytes >= 0`),
  ],
);

/** Audit trail of an artifact's lifecycle (uploaded, verifying, stored, failed, deleted...). */
export const artifactEvents = pgTable(
  'artifact_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    artifactId: uuid('artifact_id').notNull().references(() => artifacts.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    message: text('message'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('artifact_events_artifact_idx').on(t.artifactId, t.id)],
);
