import { eq } from 'drizzle-orm';
import { applications } from '../../../db/schema';
import type { TSetLimitsInput } from '../../contract/schemas';
import { effectiveLimits, usageOf } from '../artifacts/quota';
import type { ServiceCtx } from '../context';
import type { Env } from '../../env';
import { getAppForActor, type AppRow } from './app-access';

type LimitSet = {
  max_artifacts: number | null;
  max_total_bytes: number | null;
  retain_latest: number | null;
  max_unpacked_bytes: number | null;
  max_instances: number | null;
};

/** The most instances the app may run: its own override, else AETHER_MAX_INSTANCES. */
export function maxInstancesOf(app: Pick<AppRow, 'maxInstances'>, env: Pick<Env, 'AETHER_MAX_INSTANCES'>): number {
  return app.maxInstances ?? env.AETHER_MAX_INSTANCES;
}

export interface TAppLimits {
  app_name: string;
  /** The app's own overrides (null: the environment default applies). */
  overrides: LimitSet;
  /** What is enforced now (null: unlimited / keep all). */
  effective: LimitSet;
  /** Pending, verifying and stored artifacts: what counts against the quota. */
  usage: { artifacts: number; bytes: number };
}

type LimitsCtx = Pick<ServiceCtx, 'db' | 'env' | 'actor' | 'audit'>;

export async function getLimits(ctx: LimitsCtx, appName: string): Promise<TAppLimits> {
  const app = await getAppForActor(ctx, ctx.db, appName);
  const eff = effectiveLimits(app, ctx.env);
  const used = await usageOf(ctx.db, app.id);
  return {
    app_name: app.name,
    overrides: { max_artifacts: app.maxArtifacts, max_total_bytes: app.maxTotalBytes, retain_latest: app.retainLatest, max_unpacked_bytes: app.maxUnpackedBytes, max_instances: app.maxInstances },
    effective: { max_artifacts: eff.maxArtifacts, max_total_bytes: eff.maxTotalBytes, retain_latest: eff.retainLatest, max_unpacked_bytes: eff.maxUnpackedBytes, max_instances: maxInstancesOf(app, ctx.env) },
    usage: { artifacts: used.count, bytes: used.bytes },
  };
}

/**
 * Admins override the quota, retention and unpacked-size defaults per app. Lowering a quota
 * below current usage is allowed: it blocks new uploads, it never deletes anything.
 */
export async function setLimits(ctx: ServiceCtx, input: TSetLimitsInput): Promise<TAppLimits> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const patch: Partial<typeof applications.$inferInsert> = { updatedAt: new Date() };
  if (input.max_artifacts !== undefined) patch.maxArtifacts = input.max_artifacts;
  if (input.max_total_bytes !== undefined) patch.maxTotalBytes = input.max_total_bytes;
  if (input.retain_latest !== undefined) patch.retainLatest = input.retain_latest;
  if (input.max_unpacked_bytes !== undefined) patch.maxUnpackedBytes = input.max_unpacked_bytes;
  // Lowering it below the current scale stops nothing: it refuses the next scale above it.
  if (input.max_instances !== undefined) patch.maxInstances = input.max_instances;
  await ctx.db.update(applications).set(patch).where(eq(applications.id, app.id));
  ctx.log.info('app limits changed', { app: app.name, by: ctx.actor.name, ...input });
  return getLimits(ctx, app.name);
}
