import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { artifacts, deployments, IN_FLIGHT_DEPLOYMENT_STATUSES } from '../../../db/schema';
import type { TCreateDeploymentInput } from '../../contract/schemas';
import { AppError, notFound } from '../../errors';
import { enqueueRollout } from '../../queues/producers';
import { getAppForActor } from '../apps/app-access';
import { noteAudit } from '../audit/note';
import { describeChanges, diffConfig, isEmptyChange } from '../config/config-diff';
import { getConfigVersion } from '../config/config-versions';
import { findCurrentDeployment } from './rollback-target';
import { getArtifactOrThrow } from '../artifacts/artifacts.repo';
import { waitWhileVerifying } from '../artifacts/query.service';
import type { ServiceCtx } from '../context';
import type { TCreateDeploymentResult, TDeployment, TDeploymentEvent } from '../../contract/outputs';
import { DEPLOYMENT_DTO_COLUMNS, toDeploymentDto, toDeploymentEventDto } from '../dto';
import { deploymentTopic } from '../../queues/notifier';
import { waitUntil } from '../wait';
import { addDeploymentEvent, getDeploymentForActor, listDeploymentEvents, type DeploymentRow } from './deployments.repo';
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
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const artifact = await waitWhileVerifying(ctx, await getArtifactOrThrow(ctx.db, app.id, input.digest), VERIFICATION_WAIT_MS);
  if (artifact.status !== 'stored') {
    const why = artifact.status === 'failed' && artifact.failureReason ? ` (verification failed: ${artifact.failureReason})` : '';
    throw new AppError('conflict', `artifact is ${artifact.status}, not stored${why}; only verified artifacts can be deployed`);
  }
  // The app's current config (staged changes included) goes out with the artifact, read under
  // the app's row lock: a config change or rollback moving the pointer meanwhile is either seen
  // here or sees this deployment in flight (and refuses), never races it as a second release.
  let configVersionId = app.configVersionId as string;
  const inserted = await ctx.db.transaction(async (tx) => {
    const locked = await getAppForActor(ctx, tx, input.app_name, { forUpdate: true });
    if (locked.id !== app.id) throw notFound(`app "${input.app_name}"`);
    configVersionId = locked.configVersionId as string;
    return insertDeployment(ctx, tx, { appId: app.id, artifactId: artifact.id, digest: artifact.digest, configVersionId });
  });
  if (!inserted) {
    const [inFlight] = await ctx.db
      .select()
      .from(deployments)
      .where(
        and(
          eq(deployments.appId, app.id),
          eq(deployments.digest, artifact.digest),
          eq(deployments.configVersionId, configVersionId),
          inArray(deployments.status, [...IN_FLIGHT_DEPLOYMENT_STATUSES]),
        ),
      )
      .limit(1);
    if (!inFlight) throw new AppError('conflict', 'a deployment of this digest just settled; retry');
    return { deployment: toDeploymentDto(inFlight, app.name), created: false };
  }
  await startRollout(ctx, inserted);
  noteAudit(ctx, { detail: { deployment_id: inserted.id, digest: artifact.digest } });
  return { deployment: toDeploymentDto(inserted, app.name), created: true };
}

/**
 * Inserts a pending deployment of a stored artifact with its config version and its `created`
 * event (and a `config` event naming what its config changes against what runs), inside `tx`;
 * undefined when the same release (app + digest + config) is in flight already.
 */
export async function insertDeployment(
  ctx: Pick<ServiceCtx, 'actor'>,
  tx: Tx,
  values: { appId: string; artifactId: string; digest: string; configVersionId: string; rollbackOf?: string },
): Promise<DeploymentRow | undefined> {
  // Re-check under a share lock: retention (which takes this row for update) cannot delete
  // the artifact between our check and the insert that makes it protected.
  const [still] = await tx.select({ id: artifacts.id }).from(artifacts).where(and(eq(artifacts.id, values.artifactId), eq(artifacts.status, 'stored'))).for('share');
  if (!still) throw new AppError('conflict', 'artifact was deleted meanwhile; upload it again');
  const [row] = await tx
    .insert(deployments)
    // The insert's own time, not the transaction's start (now()): under the app's row lock, so
    // deployments of an app are created in the order they were taken, which `overtaken` relies on.
    .values({ ...values, createdBy: ctx.actor.name, createdAt: sql`clock_timestamp()` })
    .onConflictDoNothing()
    .returning();
  const what = values.rollbackOf ? `rollback to ${values.rollbackOf} ` : '';
  if (!row) return undefined;
  await addDeploymentEvent(tx, row.id, { phase: 'created', message: `${what}by ${ctx.actor.name}` });
  const config = await configChangeNote(tx, values.appId, values.configVersionId);
  if (config) await addDeploymentEvent(tx, row.id, { phase: 'config', message: config });
  return row;
}

/** "config v4: set A, B; unset C" against the running release; null when the config is the same. */
async function configChangeNote(tx: Tx, appId: string, configVersionId: string): Promise<string | null> {
  const running = await findCurrentDeployment(tx, appId);
  if (running?.configVersionId === configVersionId) return null;
  const [from, to] = await Promise.all([running ? getConfigVersion(tx, running.configVersionId) : null, getConfigVersion(tx, configVersionId)]);
  const changes = diffConfig(from, to);
  // A first release with an empty config has nothing to say.
  if (isEmptyChange(changes)) return null;
  return `config v${to.version}: ${describeChanges(changes)}`;
}

/** Queues the rollout of a just-created deployment; marks it failed if the queue is down. */
export async function startRollout(ctx: Pick<ServiceCtx, 'db' | 'queues' | 'log' | 'metrics'>, row: DeploymentRow): Promise<void> {
  try {
    await enqueueRollout(ctx.queues, { deploymentId: row.id });
  } catch (err) {
    ctx.log.error('enqueue rollout failed', { deploymentId: row.id, err });
    await ctx.db.transaction(async (tx) => {
      // Only if still pending: a timed-out add may have reached Redis, and a worker taken it.
      const [failed] = await tx
        .update(deployments)
        .set({ status: 'failed', failureReason: 'queue_unavailable', lastTransitionAt: new Date() })
        .where(and(eq(deployments.id, row.id), eq(deployments.status, 'pending')))
        .returning({ id: deployments.id });
      if (failed) await addDeploymentEvent(tx, row.id, { phase: 'failed', message: 'job queue unavailable' });
    });
    ctx.metrics.deploymentStatus.inc({ status: 'failed' });
    throw new AppError('service_unavailable', 'job queue unavailable; deploy again');
  }
  ctx.metrics.deploymentsCreated.inc();
  ctx.metrics.deploymentStatus.inc({ status: 'pending' });
}

export async function listDeployments(ctx: Pick<ServiceCtx, 'db' | 'actor' | 'audit'>, input: { app_name: string; limit: number }): Promise<TDeployment[]> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const rows = await ctx.db.select(DEPLOYMENT_DTO_COLUMNS).from(deployments).where(eq(deployments.appId, app.id)).orderBy(desc(deployments.createdAt)).limit(input.limit);
  return rows.map((r) => toDeploymentDto(r, app.name));
}

/** A service call that looks an object up as its caller may see it. */
type ScopedCtx = Pick<ServiceCtx, 'db' | 'actor' | 'audit'>;

export async function getDeployment(ctx: ScopedCtx, id: string): Promise<TDeployment> {
  const { deployment, appName } = await getDeploymentForActor(ctx, ctx.db, id);
  return toDeploymentDto(deployment, appName);
}

export async function getDeploymentEvents(ctx: ScopedCtx, input: { id: string; after_id: number }): Promise<TDeploymentEvent[]> {
  await getDeploymentForActor(ctx, ctx.db, input.id);
  return (await listDeploymentEvents(ctx.db, input.id, input.after_id)).map(toDeploymentEventDto);
}

/** Waits (bounded) until the deployment settles (running, failed, ...), then returns it. */
export async function waitDeployment(ctx: ScopedCtx & Pick<ServiceCtx, 'notifier'>, input: { id: string; timeout_ms: number }): Promise<TDeployment> {
  const { deployment, appName } = await waitUntil(
    ctx.notifier,
    deploymentTopic(input.id),
    () => getDeploymentForActor(ctx, ctx.db, input.id),
    (r) => SETTLED.has(r.deployment.status),
    input.timeout_ms,
  );
  return toDeploymentDto(deployment, appName);
}
