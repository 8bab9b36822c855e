import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { builtOnce } from '../../../db/prepared';
import { applications, artifactEvents, artifacts, type ArtifactStatus } from '../../../db/schema';
import { notFound } from '../../errors';

export type ArtifactRow = typeof artifacts.$inferSelect;

/** The artifact lookups of every upload request: built once per handle (see {@link builtOnce}). */
const artifactByDigest = (db: Queryable) =>
  builtOnce(db, 'artifact_by_digest', (q) =>
    q
      .select()
      .from(artifacts)
      .where(and(eq(artifacts.appId, sql.placeholder('appId')), eq(artifacts.digest, sql.placeholder('digest'))))
      .limit(1)
      .prepare('artifact_by_digest'),
  );

const artifactOfAppNamed = (db: Queryable) =>
  builtOnce(db, 'artifact_of_app_named', (q) =>
    q
      .select({ artifact: artifacts })
      .from(artifacts)
      .innerJoin(applications, eq(applications.id, artifacts.appId))
      .where(and(eq(applications.name, sql.placeholder('appName')), eq(artifacts.digest, sql.placeholder('digest'))))
      .limit(1)
      .prepare('artifact_of_app_named'),
  );

export async function findArtifact(db: Queryable, appId: string, digest: string): Promise<ArtifactRow | undefined> {
  const [row] = await artifactByDigest(db).execute({ appId, digest });
  return row;
}

/**
 * The artifact of the app named `appName`, found without the app's id: for a read issued beside
 * the app's own (access-checked) lookup. Use its answer only once that lookup has passed.
 */
export async function findArtifactOfAppNamed(
  db: Queryable,
  appName: string,
  digest: string,
): Promise<ArtifactRow | undefined> {
  const [found] = await artifactOfAppNamed(db).execute({ appName, digest });
  return found?.artifact;
}

export async function getArtifactOrThrow(db: Queryable, appId: string, digest: string): Promise<ArtifactRow> {
  const row = await findArtifact(db, appId, digest);
  if (!row) throw notFound(`artifact ${digest.slice(0, 12)}`);
  return row;
}

/**
 * Moves an artifact from one status to another only if it is still in `from` (and, given
 * `unchanged`, still of that size and multipart upload); returns the updated row, or undefined
 * when someone else moved or reset it first. The matching event is written by the same
 * statement (one round trip, atomic on its own); callers wrap it in a transaction only with
 * whatever else must change together.
 */
export async function transitionArtifact(
  db: Queryable,
  id: string,
  from: ArtifactStatus[],
  to: ArtifactStatus,
  patch: Partial<ArtifactRow> = {},
  eventMessage?: string,
  unchanged?: Pick<ArtifactRow, 'sizeBytes' | 'multipartUploadId'>,
): Promise<ArtifactRow | undefined> {
  const sameUpload = unchanged && [
    eq(artifacts.sizeBytes, unchanged.sizeBytes),
    unchanged.multipartUploadId === null
      ? isNull(artifacts.multipartUploadId)
      : eq(artifacts.multipartUploadId, unchanged.multipartUploadId),
  ];
  const moved = db.$with('moved').as(
    db
      .update(artifacts)
      .set({ ...patch, status: to, updatedAt: new Date() })
      .where(and(eq(artifacts.id, id), inArray(artifacts.status, from), ...(sameUpload ?? [])))
      .returning(),
  );
  // A data-modifying CTE runs whether or not the outer query reads it: no row moved, no event.
  const event = db
    .$with('event', {})
    .as(
      sql`insert into ${artifactEvents} (artifact_id, type, message) select id, ${to}, ${eventMessage ?? null} from moved`,
    );
  const [row] = await db.with(moved, event).select().from(moved);
  return row;
}
