import { and, desc, eq, type SQL } from 'drizzle-orm';
import { applications, artifacts } from '../../../db/schema';
import type { TArtifact } from '../../contract/outputs';
import type { TArtifactRef, TListArtifactsInput } from '../../contract/schemas';
import { notFound } from '../../errors';
import { getAppForActor } from '../apps/app-access';
import { visibleAppsWhere } from '../teams/team-scope';
import type { ServiceCtx } from '../context';
import { ARTIFACT_DTO_COLUMNS, toArtifactDto } from '../dto';
import { keysetPage, olderThanCursor } from '../keyset-cursor';
import { artifactTopic } from '../../queues/notifier';
import { waitUntil } from '../wait';
import { getArtifactOrThrow, type ArtifactRow } from './artifacts.repo';

type Ctx = Pick<ServiceCtx, 'db' | 'actor' | 'audit'>;

const ofApp = (name: string | undefined) => (name ? eq(applications.name, name) : undefined);

export async function getArtifact(ctx: Ctx, input: TArtifactRef): Promise<TArtifact> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  return toArtifactDto(await getArtifactOrThrow(ctx.db, app.id, input.digest), app.name);
}

/** Waits (bounded) until the artifact leaves `verifying`, then returns it. */
export async function waitArtifact(ctx: Ctx & Pick<ServiceCtx, 'notifier'>, input: TArtifactRef & { timeout_ms: number }): Promise<TArtifact> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const first = await getArtifactOrThrow(ctx.db, app.id, input.digest);
  return toArtifactDto(await waitWhileVerifying(ctx, first, input.timeout_ms), app.name);
}

/** The artifact once it has left `verifying` (at once when it has), or as it is after `timeoutMs`. */
export async function waitWhileVerifying(ctx: Pick<ServiceCtx, 'db' | 'notifier'>, row: ArtifactRow, timeoutMs: number): Promise<ArtifactRow> {
  if (row.status !== 'verifying') return row;
  return waitUntil(ctx.notifier, artifactTopic(row.id), () => getArtifactOrThrow(ctx.db, row.appId, row.digest), (a) => a.status !== 'verifying', timeoutMs);
}


/** Artifacts newest first, optionally of one app and one status; keyset-paginated. */
export async function listArtifacts(ctx: Ctx, input: TListArtifactsInput): Promise<{ items: TArtifact[]; next_cursor: string | null }> {
  const where: Array<SQL | undefined> = [visibleAppsWhere(ctx.actor)];
  if (input.app_name) where.push(eq(artifacts.appId, (await getAppForActor(ctx, ctx.db, input.app_name)).id));
  if (input.status) where.push(eq(artifacts.status, input.status));
  if (input.cursor) where.push(olderThanCursor(input.cursor, artifacts, artifacts.createdAt, artifacts.id));
  const rows = await ctx.db
    .select({ artifact: ARTIFACT_DTO_COLUMNS, appName: applications.name })
    .from(artifacts)
    .innerJoin(applications, eq(applications.id, artifacts.appId))
    .where(and(...where))
    .orderBy(desc(artifacts.createdAt), desc(artifacts.id))
    .limit(input.limit + 1);
  const { page, next_cursor } = keysetPage(rows, input.limit, (r) => r.artifact);
  return { items: page.map((r) => toArtifactDto(r.artifact, r.appName)), next_cursor };
}

/**
 * An artifact by digest. Digests are unique per app, so without `app_name` the most recently
 * created row of that digest answers (the seed's routes had no app). Only apps the caller
 * sees are searched: another team's artifact is `not_found`, like a missing one.
 */
export async function findArtifactByDigest(ctx: Ctx, input: { digest: string; app_name?: string }): Promise<TArtifact> {
  const rows = await ctx.db
    .select({ artifact: ARTIFACT_DTO_COLUMNS, appName: applications.name })
    .from(artifacts)
    .innerJoin(applications, eq(applications.id, artifacts.appId))
    .where(and(eq(artifacts.digest, input.digest), ofApp(input.app_name), visibleAppsWhere(ctx.actor)))
    .orderBy(desc(artifacts.createdAt))
    .limit(1);
  const hit = rows[0];
  if (!hit) throw notFound(`artifact ${input.digest.slice(0, 12)}`);
  return toArtifactDto(hit.artifact, hit.appName);
}

/** The HEAD fast path: true only when the bytes are stored (for the app, or for any app the caller sees). */
export async function isStored(ctx: Ctx, input: { digest: string; app_name?: string }): Promise<boolean> {
  const rows = await ctx.db
    .select({ id: artifacts.id })
    .from(artifacts)
    .innerJoin(applications, eq(applications.id, artifacts.appId))
    .where(and(eq(artifacts.digest, input.digest), eq(artifacts.status, 'stored'), ofApp(input.app_name), visibleAppsWhere(ctx.actor)))
    .limit(1);
  return rows.length > 0;
}
