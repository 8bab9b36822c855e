import {
  ZConsoleAppOverview,
  ZConsoleAppsInput,
  ZConsoleAppsPage,
  ZConsoleArtifactsInput,
  ZConsoleArtifactsPage,
  ZTimelineInput,
  ZTimelinePage,
} from '../../contract/console';
import { ZAppRef } from '../../contract/schemas';
import { getAppOverview, listAppsOverview } from '../../services/console/apps-overview.service';
import { listArtifactsWithKeys } from '../../services/console/artifacts-view.service';
import { getDeploymentTimeline } from '../../services/console/timeline.service';
import { createTRPCRouter, readerProcedure } from '../init';

/**
 * The portal's read views (tRPC only, no REST face): each answers one page's first view in
 * one call, bounded by a limit and a keyset cursor. Writes go through the regular routers.
 */
export const consoleRouter = createTRPCRouter({
  apps: readerProcedure
    .input(ZConsoleAppsInput)
    .output(ZConsoleAppsPage)
    .query(({ ctx, input }) => listAppsOverview(ctx.svc, input)),
  app: readerProcedure
    .input(ZAppRef)
    .output(ZConsoleAppOverview)
    .query(({ ctx, input }) => getAppOverview(ctx.svc, input.app_name)),
  timeline: readerProcedure
    .input(ZTimelineInput)
    .output(ZTimelinePage)
    .query(({ ctx, input }) => getDeploymentTimeline(ctx.svc, input)),
  artifacts: readerProcedure
    .input(ZConsoleArtifactsInput)
    .output(ZConsoleArtifactsPage)
    .query(({ ctx, input }) => listArtifactsWithKeys(ctx.svc, input)),
});
