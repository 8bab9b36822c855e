import { z } from 'zod';
import { ZApp, ZAppLimits, ZAppSummary, ZDeployment } from '../../contract/outputs';
import { ZAppSettingsInput } from '../../contract/config';
import { ZAppRef, ZCreateAppInput, ZScaleInput, ZSetLimitsInput } from '../../contract/schemas';
import { ZTeamName } from '../../contract/teams';
import { createApp, deleteApp, getApp, listApps } from '../../services/apps/apps.service';
import { updateApp } from '../../services/apps/update-app.service';
import { getLimits, setLimits } from '../../services/apps/limits.service';
import { restartApp, scaleApp, startApp, stopApp } from '../../services/apps/lifecycle.service';
import { adminProcedure, createTRPCRouter, deployerProcedure, readerProcedure } from '../init';

export const appsRouter = createTRPCRouter({
  create: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps', tags: ['apps'], summary: 'Create an application', protect: true } })
    .input(ZCreateAppInput)
    .output(ZApp)
    .mutation(({ ctx, input }) => createApp(ctx.svc, input)),
  list: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps', tags: ['apps'], summary: 'Applications with what each is running', protect: true } })
    .input(z.object({ team: ZTeamName.optional() }).optional())
    .output(z.array(ZAppSummary))
    .query(({ ctx, input }) => listApps(ctx.svc, { team: input?.team })),
  get: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps/{app_name}', tags: ['apps'], summary: 'One application', protect: true } })
    .input(ZAppRef)
    .output(ZApp)
    .query(({ ctx, input }) => getApp(ctx.svc, input.app_name)),
  update: deployerProcedure
    .meta({
      openapi: {
        method: 'PATCH',
        path: '/apps/{app_name}',
        tags: ['apps'],
        summary: 'Change settings (start command, health check; recorded in the release and deployed unless deploy is false) or the team (admin)',
        protect: true,
      },
    })
    .input(ZAppRef.extend(ZAppSettingsInput.shape).extend({ team: ZTeamName.optional(), deploy: z.boolean().default(true) }))
    .output(z.object({ app: ZApp, deployment: ZDeployment.nullable() }))
    .mutation(({ ctx, input }) => updateApp(ctx.svc, input)),
  /** Admin only: it stops the app and deletes its artifacts, objects and history. */
  delete: adminProcedure
    .meta({ openapi: { method: 'DELETE', path: '/apps/{app_name}', tags: ['apps'], summary: 'Delete an app, its artifacts and history (admin)', protect: true } })
    .input(ZAppRef)
    .output(z.object({ deleted: z.literal(true), artifacts: z.number().int() }))
    .mutation(({ ctx, input }) => deleteApp(ctx.svc, input.app_name)),
  limits: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps/{app_name}/limits', tags: ['apps'], summary: 'Quota and retention: overrides, effective values, usage', protect: true } })
    .input(ZAppRef)
    .output(ZAppLimits)
    .query(({ ctx, input }) => getLimits(ctx.svc, input.app_name)),
  setLimits: adminProcedure
    .meta({ openapi: { method: 'PATCH', path: '/apps/{app_name}/limits', tags: ['apps'], summary: 'Override quota and retention for one app (admin)', protect: true } })
    .input(ZSetLimitsInput)
    .output(ZAppLimits)
    .mutation(({ ctx, input }) => setLimits(ctx.svc, input)),
  /** Desired instance count, 0..max_instances; the rollout queue's job makes the runtime follow. */
  scale: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/scale', tags: ['apps'], summary: 'Run N instances of the current release (0..max_instances)', protect: true } })
    .input(ZScaleInput)
    .output(ZApp)
    .mutation(({ ctx, input }) => scaleApp(ctx.svc, input)),
  stop: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/stop', tags: ['apps'], summary: 'Stop every instance (scale 0); the release stays current', protect: true } })
    .input(ZAppRef)
    .output(ZApp)
    .mutation(({ ctx, input }) => stopApp(ctx.svc, input.app_name)),
  start: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/start', tags: ['apps'], summary: 'Run the instance count the app had before it was stopped', protect: true } })
    .input(ZAppRef)
    .output(ZApp)
    .mutation(({ ctx, input }) => startApp(ctx.svc, input.app_name)),
  restart: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/restart', tags: ['apps'], summary: 'Replace every instance in turn, with no downtime', protect: true } })
    .input(ZAppRef)
    .output(ZApp)
    .mutation(({ ctx, input }) => restartApp(ctx.svc, input.app_name)),
});
