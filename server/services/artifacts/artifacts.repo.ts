import { and, eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { artifactEvents, artifacts, type ArtifactStatus } from '../../../db/schema';
import { notFound } from '../../errors';

export type ArtifactRow = typeof artifacts.$inferSelect;

export async function findArtifact(db: Queryable, appId: string, digest: string): Promise<ArtifactRow | undefined> {
  const [row] = await db
    .select()
    .from(artifacts)
    .where(and(eq(artifacts.appId, appId), eq(artifacts.digest, digest)))
    .limit(1);
  return row;
}

export async function getArtifactOrThrow(db: Queryable, appId: string, digest: string): Promise<ArtifactRow> {
  const row = await findArtifact(db, appId, digest);
  if (!row) throw notFound(`artifact ${digest.slice(0, 12)}`);
  return row;
}

/**
 * Moves an artifact from one status to another only if it is still in `from`; returns the
 * updated row, or undefined when someone else moved it first. Writes the matching event;
 * callers wrap it in a transaction with whatever else must change together.
 */
export async function transitionArtifact(
  db: Queryable,
  id: string,
  from: ArtifactStatus[],
  to: ArtifactStatus,
  patch: Partial<ArtifactRow> = {},
  eventMessage?: string,
): Promise<ArtifactRow | undefined> {
  const now = new Date();
  const rows = await db
    .update(artifacts)
    .set({ ...patch, status: to, updatedAt: now })
    .where(and(eq(artifacts.id, id), inArray(artifacts.status, from)))
    .returning();
  const row = rows[0];
  if (row) await db.insert(artifactEvents).values({ artifactId: id, type: to, message: eventMessage ?? null });
  return row;
}
