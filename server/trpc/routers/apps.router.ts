import { z } from 'zod';
import { ZApp, ZAppLimits, ZAppSummary } from '../../contract/outputs';
import { ZAppRef, ZCreateAppInput, ZSetLimitsInput } from '../../contract/schemas';
import { createApp, deleteApp, getApp, listApps } from '../../services/apps/apps.service';
import { getLimits, setLimits } from '../../services/apps/limits.service';
import { adminProcedure, createTRPCRouter, deployerProcedure, readerProcedure } from '../init';

export const appsRouter = createTRPCRouter({
  create: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps', tags: ['apps'], summary: 'Create an application', protect: true } })
    .input(ZCreateAppInput)
    .output(ZApp)
    .mutation(({ ctx, input }) => createApp(ctx.svc, input)),
  list: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps', tags: ['apps'], summary: 'Applications with what each is running', protect: true } })
    .input(z.object({}).optional())
    .output(z.array(ZAppSummary))
    .query(({ ctx }) => listApps(ctx.svc)),
  get: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps/{app_name}', tags: ['apps'], summary: 'One application', protect: true } })
    .input(ZAppRef)
    .output(ZApp)
    .query(({ ctx, input }) => getApp(ctx.svc, input.app_name)),
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
});
