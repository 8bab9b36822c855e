import { and, desc, eq } from 'drizzle-orm';
import { deployments, type DeploymentStatus } from '../../../db/schema';
import type { TLogsInput } from '../../contract/schemas';
import { notFound } from '../../errors';
import type { LogEntry } from '../../runtime/port';
import { getAppForActor } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { getDeploymentWithApp } from './deployments.repo';

/** Deployments that will never print again: following them would only hang the reader. */
const DONE: ReadonlySet<DeploymentStatus> = new Set(['failed', 'superseded', 'rolled_back']);

export type LogsInput = TLogsInput & { signal?: AbortSignal };

/**
 * The output of one of an app's deployments (default: the running one, else the latest) as
 * entries, optionally following new ones. Resolves only once the input is checked (app,
 * deployment, container), so callers can still answer with an error instead of a stream.
 */
export async function streamAppLogs(
  ctx: Pick<ServiceCtx, 'db' | 'runtime' | 'actor' | 'audit'>,
  input: LogsInput,
): Promise<{ deploymentId: string; entries: AsyncIterable<LogEntry> }> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  let target: { id: string; status: DeploymentStatus } | undefined;
  if (input.deployment) {
    // One answer for a missing id and another app's: ids of hidden apps don't show.
    const found = await getDeploymentWithApp(ctx.db, input.deployment).catch(() => null);
    if (found?.deployment.appId !== app.id) throw notFound(`deployment ${input.deployment} of app "${app.name}"`);
    target = found.deployment;
  } else {
    const cols = { id: deployments.id, status: deployments.status };
    const [running] = await ctx.db.select(cols).from(deployments).where(and(eq(deployments.appId, app.id), eq(deployments.status, 'running'))).limit(1);
    [target] = running ? [running] : await ctx.db.select(cols).from(deployments).where(eq(deployments.appId, app.id)).orderBy(desc(deployments.createdAt)).limit(1);
    if (!target) throw notFound(`deployments of app "${app.name}"`);
  }
  const entries = ctx.runtime.logs(
    { deploymentId: target.id, appName: app.name },
    { tail: input.tail, follow: input.follow && !DONE.has(target.status), sinceSecs: input.since, container: input.container, instance: input.instance, signal: input.signal },
  );
  return { deploymentId: target.id, entries };
}
