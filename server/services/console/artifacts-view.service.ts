import { and, desc, eq, ne, type SQL } from 'drizzle-orm';
import { artifacts, publicKeys } from '../../../db/schema';
import type { TConsoleArtifactsPage } from '../../contract/console';
import { getAppForActor } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { ARTIFACT_DTO_COLUMNS, toArtifactDto } from '../dto';
import { publicKeyFingerprint } from '../../contract/ed25519';
import { keysetPage, olderThanCursor } from '../keyset-cursor';

/**
 * An app's artifacts newest first with the key that verified each one (its fingerprint, never
 * the signature), keyset-paginated. Deleted rows are left out unless asked for by status.
 */
export async function listArtifactsWithKeys(
  ctx: Pick<ServiceCtx, 'db' | 'actor'>,
  input: { app_name: string; status?: 'pending' | 'verifying' | 'stored' | 'failed' | 'deleted'; limit: number; cursor?: string },
): Promise<TConsoleArtifactsPage> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const where: Array<SQL | undefined> = [eq(artifacts.appId, app.id), input.status ? eq(artifacts.status, input.status) : ne(artifacts.status, 'deleted')];
  if (input.cursor) where.push(olderThanCursor(input.cursor, artifacts, artifacts.createdAt, artifacts.id));
  const rows = await ctx.db
    .select({ artifact: { ...ARTIFACT_DTO_COLUMNS, signature: artifacts.signature }, key: { id: publicKeys.id, hex: publicKeys.publicKeyHex, active: publicKeys.active } })
    .from(artifacts)
    .leftJoin(publicKeys, eq(publicKeys.id, artifacts.verifiedKeyId))
    .where(and(...where))
    .orderBy(desc(artifacts.createdAt), desc(artifacts.id))
    .limit(input.limit + 1);
  const { page, next_cursor } = keysetPage(rows, input.limit, (r) => r.artifact);
  return {
    items: page.map(({ artifact, key }) => ({
      ...toArtifactDto(artifact, app.name),
      signed: artifact.signature !== null,
      signing_key: key?.id && key.hex ? { key_id: key.id, fingerprint: publicKeyFingerprint(key.hex), active: key.active ?? false } : null,
    })),
    next_cursor,
  };
}
