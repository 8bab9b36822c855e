import { and, desc, eq } from 'drizzle-orm';
import { applications, deployments } from '../../../db/schema';
import type { TDeployment } from '../../contract/outputs';
import type { TSeedCreateDeploymentInput } from '../../contract/schemas';
import { AppError } from '../../errors';
import { getAppForActor } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { DEPLOYMENT_DTO_COLUMNS, toDeploymentDto } from '../dto';
import { findVerifyingKey } from '../keys/keys.service';
import { visibleAppsWhere } from '../teams/team-scope';
import { createDeployment } from './deployments.service';
import { getDeploymentForActor } from './deployments.repo';

/**
 * The seed's `POST /deployments`: {@link createDeployment}, after checking a signature the
 * client sent against the app's active keys (over the hex digest, as at upload).
 */
export async function registerDeployment(
  ctx: ServiceCtx,
  input: TSeedCreateDeploymentInput,
): Promise<{ id: string; status: TDeployment['status'] }> {
  if (input.signature) {
    const app = await getAppForActor(ctx, ctx.db, input.app_name);
    if (!(await findVerifyingKey(ctx.db, app.id, input.digest, input.signature))) {
      ctx.metrics.artifactVerifyFailures.inc({ reason: 'signature_invalid' });
      throw new AppError('bad_request', 'signature verification failed: no active key of the app verifies it');
    }
  }
  const { deployment } = await createDeployment(ctx, { app_name: input.app_name, digest: input.digest });
  return { id: deployment.id, status: deployment.status };
}

/**
 * The seed's `PATCH /deployments/{id}` `{digest}`: rolls the deployment's app out to another
 * stored digest. Deployments are immutable records, so this is a new deployment, answered.
 */
export async function patchDeployment(ctx: ServiceCtx, input: { id: string; digest: string }): Promise<TDeployment> {
  const { appName } = await getDeploymentForActor(ctx, ctx.db, input.id);
  const { deployment } = await createDeployment(ctx, { app_name: appName, digest: input.digest });
  return deployment;
}

/** The seed's `GET /deployments[?app_name=]`: newest first, only apps of the caller's teams. */
export async function listAllDeployments(
  ctx: Pick<ServiceCtx, 'db' | 'actor' | 'audit'>,
  input: { app_name?: string; limit: number; offset: number },
): Promise<TDeployment[]> {
  const app = input.app_name === undefined ? null : await getAppForActor(ctx, ctx.db, input.app_name);
  const rows = await ctx.db
    .select({ deployment: DEPLOYMENT_DTO_COLUMNS, appName: applications.name })
    .from(deployments)
    .innerJoin(applications, eq(applications.id, deployments.appId))
    .where(and(app ? eq(deployments.appId, app.id) : undefined, visibleAppsWhere(ctx.actor)))
    .orderBy(desc(deployments.createdAt), desc(deployments.id))
    .limit(input.limit)
    .offset(input.offset);
  return rows.map((r) => toDeploymentDto(r.deployment, r.appName));
}
