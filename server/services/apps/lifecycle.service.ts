import { and, eq } from 'drizzle-orm';
import type { Tx } from '../../../db/client';
import { applications } from '../../../db/schema';
import type { TApp } from '../../contract/outputs';
import type { TScaleInput } from '../../contract/schemas';
import { AppError, isAppError } from '../../errors';
import { enqueueLifecycle } from '../../queues/producers';
import { noteAudit } from '../audit/note';
import type { ServiceCtx } from '../context';
import { findCurrentDeployment, findInFlightDeployment } from '../deployments/rollback-target';
import { toAppDto } from '../dto';
import { getAppForActor, type AppRow } from './app-access';
import { maxInstancesOf } from './limits.service';

type LifecycleVerb = 'scale' | 'stop' | 'start' | 'restart';

const plural = (n: number) => `${n} instance${n === 1 ? '' : 's'}`;

/** `aether scale`: `instances` (0..max_instances) run the app's current release. */
export function scaleApp(ctx: ServiceCtx, input: TScaleInput): Promise<TApp> {
  return changeScale(ctx, input.app_name, 'scale', () => input.instances);
}

/** `aether stop`: scale 0; the release stays current and `start` brings the count back. */
export function stopApp(ctx: ServiceCtx, appName: string): Promise<TApp> {
  return changeScale(ctx, appName, 'stop', () => 0);
}

/** `aether start`: the count the app last ran with (a running app keeps its count). */
export function startApp(ctx: ServiceCtx, appName: string): Promise<TApp> {
  return changeScale(ctx, appName, 'start', (app) => (app.instances > 0 ? app.instances : app.lastInstances));
}

/** `aether restart`: every instance replaced in turn by the job, no downtime. Changes no state. */
export async function restartApp(ctx: ServiceCtx, appName: string): Promise<TApp> {
  const { app, current } = await ctx.db.transaction(async (tx) => {
    const app = await getAppForActor(ctx, tx, appName, { forUpdate: true });
    const current = await runningReleaseOf(tx, app, 'restart');
    if (app.instances === 0) throw new AppError('conflict', `app "${app.name}" is stopped: start it (apps.start) instead of restarting it`);
    return { app, current };
  });
  noteAudit(ctx, { detail: { action: 'restart', instances: app.instances } });
  await enqueueOrUnavailable(ctx, app.id, 'restart');
  return toAppDto(app, current);
}

/**
 * Checks and records the new desired count under the app's row lock, then queues the job that
 * makes the runtime follow. A queue that is down undoes the change: nothing half-done stays.
 */
async function changeScale(ctx: ServiceCtx, appName: string, verb: LifecycleVerb, desired: (app: AppRow) => number): Promise<TApp> {
  const { before, after, current } = await ctx.db.transaction(async (tx) => {
    const app = await getAppForActor(ctx, tx, appName, { forUpdate: true });
    const instances = desired(app);
    const max = maxInstancesOf(app, ctx.env);
    if (instances > max) {
      throw new AppError('quota_exceeded', `app "${app.name}" may run at most ${plural(max)} (max_instances ${max}); asked for ${instances}`);
    }
    const current = await runningReleaseOf(tx, app, verb);
    const now = new Date();
    const patch: Partial<typeof applications.$inferInsert> = { instances, updatedAt: now };
    if (instances > 0) patch.lastInstances = instances;
    // A stop is known at once; anything else is the runtime's to report once it has happened.
    if (instances === 0) Object.assign(patch, { health: 'stopped', healthMessage: `stopped by ${ctx.actor.name}`, healthChangedAt: now });
    const [after] = await tx.update(applications).set(patch).where(eq(applications.id, app.id)).returning();
    return { before: app, after: after!, current };
  });
  noteAudit(ctx, { detail: { action: verb, instances: after.instances, previous: before.instances } });
  try {
    await enqueueOrUnavailable(ctx, after.id, 'scale');
  } catch (err) {
    await undoScale(ctx, before, after);
    throw err;
  }
  return toAppDto(after, current);
}

/** The app's running release; a deployment in flight would race the change, so it is refused. */
async function runningReleaseOf(tx: Tx, app: AppRow, verb: LifecycleVerb) {
  const inFlight = await findInFlightDeployment(tx, app.id);
  if (inFlight) throw new AppError('conflict', `deployment ${inFlight.id} of app "${app.name}" is ${inFlight.status}; ${verb} once it settles`);
  const current = await findCurrentDeployment(tx, app.id);
  if (!current) throw new AppError('conflict', `app "${app.name}" has no running release to ${verb}: deploy it first`);
  return current;
}

async function enqueueOrUnavailable(ctx: ServiceCtx, appId: string, action: 'scale' | 'restart'): Promise<void> {
  try {
    await enqueueLifecycle(ctx.queues, { appId, action });
  } catch (err) {
    if (isAppError(err)) throw err;
    ctx.log.error('enqueue lifecycle job failed', { appId, action, err });
    throw new AppError('service_unavailable', 'job queue unavailable; nothing was changed, try again');
  }
}

/** Puts the scale columns back, unless someone changed the app meanwhile (then theirs stands). */
async function undoScale(ctx: ServiceCtx, before: AppRow, after: AppRow): Promise<void> {
  await ctx.db
    .update(applications)
    .set({
      instances: before.instances,
      lastInstances: before.lastInstances,
      health: before.health,
      healthMessage: before.healthMessage,
      healthChangedAt: before.healthChangedAt,
      updatedAt: before.updatedAt,
    })
    .where(and(eq(applications.id, after.id), eq(applications.updatedAt, after.updatedAt)));
}
