import { eq } from 'drizzle-orm';
import type { Queryable } from '../../db/client';
import { applications, configVersions } from '../../db/schema';

/**
 * The app's current config version id, for tests that insert deployment rows directly. An app
 * inserted directly (not through apps.create) gets its first, empty version here.
 */
export async function configVersionOf(db: Queryable, appId: string): Promise<string> {
  const [app] = await db.select({ configVersionId: applications.configVersionId }).from(applications).where(eq(applications.id, appId));
  if (app?.configVersionId) return app.configVersionId;
  const [first] = await db.insert(configVersions).values({ appId, version: 1, createdBy: 'test' }).returning({ id: configVersions.id });
  await db.update(applications).set({ configVersionId: first!.id }).where(eq(applications.id, appId));
  return first!.id;
}
