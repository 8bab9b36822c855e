import { and, desc, eq, inArray } from 'drizzle-orm';
import { artifacts, deployments, IN_FLIGHT_DEPLOYMENT_STATUSES } from '../../../db/schema';
import type { TCreateDeploymentInput } from '../../contract/schemas';
import { AppError } from '../../errors';
import { enqueueRollout } from '../../queues/producers';
import { getAppOrThrow } from '../apps/apps.service';
import { getArtifactOrThrow } from '../artifacts/artifacts.repo';
import { waitWhileVerifying } from '../artifacts/query.service';
import type { ServiceCtx } from '../context';
import type { TCreateDeploymentResult, TDeployment, TDeploymentEvent } from '../../contract/outputs';
import { toDeploymentDto, toDeploymentEventDto } from '../dto';
import { deploymentTopic } from '../../queues/notifier';
import { waitUntil } from '../wait';
import { addDeploymentEvent, getDeploymentWithApp, listDeploymentEvents, type DeploymentRow } from './deployments.repo';
import type { Tx } from '../../../db/client';

const SETTLED = new Set(['running', 'failed', 'superseded', 'rolled_back']);

/** How long a deployment request waits for its artifact's verification to finish. */
const VERIFICATION_WAIT_MS = 20_000;

/**
 * Creates a deployment of a stored artifact and queues its rollout. Idempotent per
 * app + digest while one is in flight: a retried `deploy` joins the running rollout.
 * An artifact still being verified is waited for (up to 20 s), so a client can ask for the
 * deployment right after completing the upload instead of polling the artifact first.
 */
export async function createDeployment(ctx: ServiceCtx, input: TCreateDeploymentInput): Promise<TCreateDeploymentResult> {
  const app = await getAppOrThrow(ctx.db, input.app_name);
  const artifact = await waitWhileVerifying(ctx, await getArtifactOrThrow(ctx.db, app.id, input.digest), VERIFICATION_WAIT_MS);
  if (artifact.status !== 'stored') {
    const why = artifact.status === 'failed' && artifact.failureReason ? ` (verification failed: ${artifact.failureReason})` : '';
    throw new AppError('conflict', `artifact is ${artifact.status}, not stored${why}; only verified artifacts can be deployed`);
  }
  const inserted = await ctx.db.transaction((tx) => insertDeployment(ctx, tx, { appId: app.id, artifactId: artifact.id, digest: artifact.digest }));
  if (!inserted) {
    const [inFlight] = await ctx.db
      .select()
      .from(deployments)
      .where(and(eq(deployments.appId, app.id), eq(deployments.digest, artifact.digest), inArray(deployments.status, [...IN_FLIGHT_DEPLOYMENT_STATUSES])))
      .limit(1);
    if (!inFlight) throw new AppError('conflict', 'a deployment of this digest just settled; retry');
    return { deployment: toDeploymentDto(inFlight, app.name), created: false };
  }
  await startRollout(ctx, inserted);
  return { deployment: toDeploymentDto(inserted, app.name), created: true };
}

/**
 * Inserts a pending deployment of a stored artifact with its `created` event, inside `tx`;
 * undefined when one of the same app + digest is in flight already.
 */
export async function insertDeployment(
  ctx: Pick<ServiceCtx, 'actor'>,
  tx: Tx,
  values: { appId: string; artifactId: string; digest: string; rollbackOf?: string },
): Promise<DeploymentRow | undefined> {
  // Re-check under a share lock: retention (which takes this row for update) cannot delete
  // the artifact between our check and the insert that makes it protected.
  const [still] = await tx.select({ id: artifacts.id }).from(artifacts).where(and(eq(artifacts.id, values.artifactId), eq(artifacts.status, 'stored'))).for('share');
  if (!still) throw new AppError('conflict', 'artifact was deleted meanwhile; upload it again');
  const [row] = await tx
    .insert(deployments)
    .values({ ...values, createdBy: ctx.actor.name })
    .onConflictDoNothing()
    .returning();
  const what = values.rollbackOf ? `rollback to ${values.rollbackOf} ` : '';
  if (row) await addDeploymentEvent(tx, row.id, { phase: 'created', message: `${what}by ${ctx.actor.name}` });
  return row;
}

/** Queues the rollout of a just-created deployment; marks it failed if the queue is down. */
export async function startRollout(ctx: Pick<ServiceCtx, 'db' | 'queues' | 'log' | 'metrics'>, row: DeploymentRow): Promise<void> {
  try {
    await enqueueRollout(ctx.queues, { deploymentId: row.id });
  } catch (err) {
    ctx.log.error('enqueue rollout failed', { deploymentId: row.id, err });
    await ctx.db.transaction(async (tx) => {
      await tx.update(deployments).set({ status: 'failed', failureReason: 'queue_unavailable', lastTransitionAt: new Date() }).where(eq(deployments.id, row.id));
      await addDeploymentEvent(tx, row.id, { phase: 'failed', message: 'job queue unavailable' });
    });
    throw new AppError('service_unavailable', 'job queue unavailable; deploy again');
  }
  ctx.metrics.deploymentsCreated.inc();
}

export async function listDeployments(ctx: Pick<ServiceCtx, 'db'>, input: { app_name: string; limit: number }): Promise<TDeployment[]> {
  const app = await getAppOrThrow(ctx.db, input.app_name);
  const rows = await ctx.db.select().from(deployments).where(eq(deployments.appId, app.id)).orderBy(desc(deployments.createdAt)).limit(input.limit);
  return rows.map((r) => toDeploymentDto(r, app.name));
}

export async function getDeployment(ctx: Pick<ServiceCtx, 'db'>, id: string): Promise<TDeployment> {
  const { deployment, appName } = await getDeploymentWithApp(ctx.db, id);
  return toDeploymentDto(deployment, appName);
}

export async function getDeploymentEvents(ctx: Pick<ServiceCtx, 'db'>, input: { id: string; after_id: number }): Promise<TDeploymentEvent[]> {
  await getDeploymentWithApp(ctx.db, input.id);
  return (await listDeploymentEvents(ctx.db, input.id, input.after_id)).map(toDeploymentEventDto);
}

/** Waits (bounded) until the deployment settles (running, failed, ...), then returns it. */
export async function waitDeployment(ctx: Pick<ServiceCtx, 'db' | 'notifier'>, input: { id: string; timeout_ms: number }): Promise<TDeployment> {
  const { deployment, appName } = await waitUntil(
    ctx.notifier,
    deploymentTopic(input.id),
    () => getDeploymentWithApp(ctx.db, input.id),
    (r) => SETTLED.has(r.deployment.status),
    input.timeout_ms,
  );
  return toDeploymentDto(deployment, appName);
}
