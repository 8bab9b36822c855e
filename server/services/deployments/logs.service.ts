import { and, desc, eq } from 'drizzle-orm';
import { deployments } from '../../../db/schema';
import { notFound } from '../../errors';
import { getAppOrThrow } from '../apps/apps.service';
import type { ServiceCtx } from '../context';
import { getDeploymentWithApp } from './deployments.repo';

export interface LogsInput {
  app_name: string;
  /** A specific deployment (also one that was replaced); default: the running one, else the latest. */
  deploymentId?: string;
  tail: number;
  follow: boolean;
  signal?: AbortSignal;
}

/** The output lines of an app's deployment, optionally following new ones. */
export async function streamAppLogs(ctx: Pick<ServiceCtx, 'db' | 'runtime'>, input: LogsInput): Promise<{ deploymentId: string; lines: AsyncIterable<string> }> {
  const app = await getAppOrThrow(ctx.db, input.app_name);
  let deploymentId = input.deploymentId;
  if (deploymentId) {
    const { deployment } = await getDeploymentWithApp(ctx.db, deploymentId);
    if (deployment.appId !== app.id) throw notFound(`deployment ${deploymentId} of app "${app.name}"`);
  } else {
    const [running] = await ctx.db.select({ id: deployments.id }).from(deployments).where(and(eq(deployments.appId, app.id), eq(deployments.status, 'running'))).limit(1);
    const [latest] = running ? [running] : await ctx.db.select({ id: deployments.id }).from(deployments).where(eq(deployments.appId, app.id)).orderBy(desc(deployments.createdAt)).limit(1);
    if (!latest) throw notFound(`deployments of app "${app.name}"`);
    deploymentId = latest.id;
  }
  return { deploymentId, lines: ctx.runtime.logs(deploymentId, { tail: input.tail, follow: input.follow, signal: input.signal }) };
}
