import { eq } from 'drizzle-orm';
import { applications, artifacts } from '../../../db/schema';
import type { TCreateDeploymentResult } from '../../contract/outputs';
import type { TRollbackInput } from '../../contract/schemas';
import { AppError, notFound } from '../../errors';
import { getAppForActor } from '../apps/app-access';
import { noteAudit } from '../audit/note';
import type { ServiceCtx } from '../context';
import { toDeploymentDto } from '../dto';
import { insertDeployment, startRollout } from './deployments.service';
import { getDeploymentWithApp, type DeploymentRow } from './deployments.repo';
import { findCurrentDeployment, findInFlightDeployment, findRollbackTarget } from './rollback-target';

/**
 * Starts a new deployment of an earlier deployment's stored artifact: nothing is uploaded or
 * verified again. Default target: {@link findRollbackTarget} (what ran before the current one);
 * `to` picks any earlier deployment of the app. When it reaches `running`, the deployment it
 * replaces becomes `rolled_back`. A retried rollback joins the one in flight.
 */
export async function rollbackDeployment(ctx: ServiceCtx, input: TRollbackInput): Promise<TCreateDeploymentResult> {
  const result = await ctx.db.transaction(async (tx) => {
    // The row lock serialises rollbacks and config changes of one app (and retention, which takes the same lock first).
    const app = await getAppForActor(ctx, tx, input.app_name, { forUpdate: true });
    const target = input.to ? await explicitTarget(tx, app.id, app.name, input.to) : await findRollbackTarget(tx, app.id);
    if (!target) {
      throw new AppError('conflict', `nothing to roll back to: app "${app.name}" has no earlier deployment whose artifact is still stored`);
    }
    const current = await findCurrentDeployment(tx, app.id);
    if (current && (current.id === target.id || sameRelease(current, target))) {
      throw new AppError('conflict', `deployment ${target.id} is what runs now (${target.digest.slice(0, 12)} with the same config); nothing to roll back`);
    }
    const inFlight = await findInFlightDeployment(tx, app.id);
    if (inFlight) {
      if (inFlight.rollbackOf && sameRelease(inFlight, target)) return { app, row: inFlight, created: false };
      throw new AppError('conflict', `deployment ${inFlight.id} of app "${app.name}" is ${inFlight.status}; roll back once it settles`);
    }
    const row = await insertDeployment(ctx, tx, {
      appId: app.id,
      artifactId: target.artifactId,
      digest: target.digest,
      configVersionId: target.configVersionId,
      rollbackOf: target.id,
    });
    if (!row) throw new AppError('conflict', `a deployment of ${target.digest.slice(0, 12)} started meanwhile; retry`);
    // A rollback restores the target's config too: later deploys start from it, and changes
    // staged since are dropped with the release they were meant for.
    await tx.update(applications).set({ configVersionId: target.configVersionId, updatedAt: new Date() }).where(eq(applications.id, app.id));
    return { app, row, created: true };
  });
  const { app } = result;
  noteAudit(ctx, { detail: { deployment_id: result.row.id, rollback_of: result.row.rollbackOf } });
  if (result.created) {
    await startRollout(ctx, result.row);
    ctx.log.info('rollback started', { app: app.name, deploymentId: result.row.id, rollbackOf: result.row.rollbackOf, by: ctx.actor.name });
  }
  return { deployment: toDeploymentDto(result.row, app.name), created: result.created };
}

/** `to`: a deployment of this app whose artifact is still stored. */
async function explicitTarget(tx: Parameters<typeof findRollbackTarget>[0], appId: string, appName: string, id: string): Promise<DeploymentRow> {
  const { deployment } = await getDeploymentWithApp(tx, id).catch(() => {
    throw notFound(`deployment ${id} of app "${appName}"`);
  });
  if (deployment.appId !== appId) throw notFound(`deployment ${id} of app "${appName}"`);
  const [artifact] = await tx
    .select({ status: artifacts.status })
    .from(artifacts)
    .where(eq(artifacts.id, deployment.artifactId))
    .limit(1);
  if (artifact?.status !== 'stored') {
    throw new AppError('conflict', `the artifact of deployment ${id} (${deployment.digest.slice(0, 12)}) is ${artifact?.status ?? 'gone'}, not stored: upload it again to run it`);
  }
  return deployment;
}

/** Same artifact and same config: running one is running the other. */
function sameRelease(a: DeploymentRow, b: DeploymentRow): boolean {
  return a.digest === b.digest && a.configVersionId === b.configVersionId;
}
