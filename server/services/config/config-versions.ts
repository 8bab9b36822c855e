import { eq, max } from 'drizzle-orm';
import type { Queryable, Tx } from '../../../db/client';
import { applications, configVersions, type StoredAppSettings, type StoredConfigChanges } from '../../../db/schema';
import type { ConfigEntries } from './config-diff';
import { withoutParams } from './query-error';

export type ConfigVersionRow = typeof configVersions.$inferSelect;

export async function getConfigVersion(db: Queryable, id: string): Promise<ConfigVersionRow> {
  const [row] = await db.select().from(configVersions).where(eq(configVersions.id, id)).limit(1);
  if (!row) throw new Error(`config version ${id} is gone`);
  return row;
}

/**
 * Appends the app's next version and points the app at it, inside `tx`. The caller holds the
 * app's row lock, so two changes of one app are numbered one after the other.
 */
export async function appendConfigVersion(
  tx: Tx,
  appId: string,
  values: { entries: ConfigEntries; settings: StoredAppSettings; changes: StoredConfigChanges; createdBy: string },
): Promise<ConfigVersionRow> {
  const [found] = await tx.select({ latest: max(configVersions.version) }).from(configVersions).where(eq(configVersions.appId, appId));
  const version = (found?.latest ?? 0) + 1;
  const [row] = await withoutParams(`writing config version ${version} of app ${appId}`, () =>
    tx.insert(configVersions).values({ appId, version, ...values }).returning(),
  );
  if (!row) throw new Error(`config version of app ${appId} was not inserted`);
  await tx.update(applications).set({ configVersionId: row.id, updatedAt: new Date() }).where(eq(applications.id, appId));
  return row;
}

/** The app's current version (what its next deploy runs with). Every app has one from creation on. */
export async function currentConfigVersion(db: Queryable, app: { id: string; configVersionId: string | null }): Promise<ConfigVersionRow> {
  if (!app.configVersionId) throw new Error(`app ${app.id} has no config version`);
  return getConfigVersion(db, app.configVersionId);
}
