import { and, count, desc, eq, ilike, inArray, ne, or } from 'drizzle-orm';
import { applications, artifacts, deployments } from '../../../db/schema';
import type { TConsoleAppOverview, TConsoleAppsPage } from '../../contract/console';
import type { TAppSummary } from '../../contract/outputs';
import { getAppForActor, type AppRow } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { toAppDto, toDeploymentDto } from '../dto';

type Ctx = Pick<ServiceCtx, 'db' | 'actor'>;

/** `%` and `_` typed in a search box are literal characters, not wildcards. */
const likePattern = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Each app with the deployment serving now and its most recent one: two indexed queries for the page. */
async function summarize(ctx: Ctx, apps: AppRow[]): Promise<TAppSummary[]> {
  if (apps.length === 0) return [];
  const ids = apps.map((a) => a.id);
  const [running, recent] = await Promise.all([
    ctx.db.select().from(deployments).where(and(inArray(deployments.appId, ids), eq(deployments.status, 'running'))),
    ctx.db.selectDistinctOn([deployments.appId]).from(deployments).where(inArray(deployments.appId, ids)).orderBy(deployments.appId, desc(deployments.createdAt)),
  ]);
  return apps.map((app) => {
    const cur = running.find((d) => d.appId === app.id);
    const last = recent.find((d) => d.appId === app.id);
    return { ...toAppDto(app, cur ?? null), current: cur ? toDeploymentDto(cur, app.name) : null, latest: last ? toDeploymentDto(last, app.name) : null };
  });
}

/** The caller's apps by name, filtered by name or owner and team, at most `limit` of them. */
export async function listAppsOverview(ctx: Ctx, input: { search?: string; team?: string; limit: number }): Promise<TConsoleAppsPage> {
  const search = input.search ? likePattern(input.search) : null;
  const visible = ctx.actor.teams === null ? undefined : inArray(applications.team, [...ctx.actor.teams]);
  const rows = await ctx.db
    .select()
    .from(applications)
    .where(and(visible, input.team ? eq(applications.team, input.team) : undefined, search ? or(ilike(applications.name, search), ilike(applications.owner, search)) : undefined))
    .orderBy(applications.name)
    .limit(input.limit + 1);
  return { items: await summarize(ctx, rows.slice(0, input.limit)), more: rows.length > input.limit };
}

/** The head of an app's page: what runs, what was last deployed, and how much history there is. */
export async function getAppOverview(ctx: Ctx, appName: string): Promise<TConsoleAppOverview> {
  const app = await getAppForActor(ctx, ctx.db, appName);
  const [[summary], [deps], [arts]] = await Promise.all([
    summarize(ctx, [app]),
    ctx.db.select({ n: count() }).from(deployments).where(eq(deployments.appId, app.id)),
    ctx.db.select({ n: count() }).from(artifacts).where(and(eq(artifacts.appId, app.id), ne(artifacts.status, 'deleted'))),
  ]);
  return { app: summary!, deployments_count: deps?.n ?? 0, artifacts_count: arts?.n ?? 0 };
}
