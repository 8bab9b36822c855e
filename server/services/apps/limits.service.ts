import { eq } from 'drizzle-orm';
import { applications } from '../../../db/schema';
import type { TSetLimitsInput } from '../../contract/schemas';
import { effectiveLimits, usageOf } from '../artifacts/quota';
import type { ServiceCtx } from '../context';
import { getAppOrThrow } from './apps.service';

type LimitSet = { max_artifacts: number | null; max_total_bytes: number | null; retain_latest: number | null; max_unpacked_bytes: number | null };

export interface TAppLimits {
  app_name: string;
  /** The app's own overrides (null: the environment default applies). */
  overrides: LimitSet;
  /** What is enforced now (null: unlimited / keep all). */
  effective: LimitSet;
  /** Pending, verifying and stored artifacts: what counts against the quota. */
  usage: { artifacts: number; bytes: number };
}

export async function getLimits(ctx: Pick<ServiceCtx, 'db' | 'env'>, appName: string): Promise<TAppLimits> {
  const app = await getAppOrThrow(ctx.db, appName);
  const eff = effectiveLimits(app, ctx.env);
  const used = await usageOf(ctx.db, app.id);
  return {
    app_name: app.name,
    overrides: { max_artifacts: app.maxArtifacts, max_total_bytes: app.maxTotalBytes, retain_latest: app.retainLatest, max_unpacked_bytes: app.maxUnpackedBytes },
    effective: { max_artifacts: eff.maxArtifacts, max_total_bytes: eff.maxTotalBytes, retain_latest: eff.retainLatest, max_unpacked_bytes: eff.maxUnpackedBytes },
    usage: { artifacts: used.count, bytes: used.bytes },
  };
}

/**
 * Admins override the quota, retention and unpacked-size defaults per app. Lowering a quota
 * below current usage is allowed: it blocks new uploads, it never deletes anything.
 */
export async function setLimits(ctx: ServiceCtx, input: TSetLimitsInput): Promise<TAppLimits> {
  const app = await getAppOrThrow(ctx.db, input.app_name);
  const patch: Partial<typeof applications.$inferInsert> = { updatedAt: new Date() };
  if (input.max_artifacts !== undefined) patch.maxArtifacts = input.max_artifacts;
  if (input.max_total_bytes !== undefined) patch.maxTotalBytes = input.max_total_bytes;
  if (input.retain_latest !== undefined) patch.retainLatest = input.retain_latest;
  if (input.max_unpacked_bytes !== undefined) patch.maxUnpackedBytes = input.max_unpacked_bytes;
  await ctx.db.update(applications).set(patch).where(eq(applications.id, app.id));
  ctx.log.info('app limits changed', { app: app.name, by: ctx.actor.name, ...input });
  return getLimits(ctx, app.name);
}
