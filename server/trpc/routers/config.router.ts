import { z } from 'zod';
import { ZConfigChangeInput, ZConfigDeployInput, ZConfigView } from '../../contract/config';
import { ZCreateDeploymentResult, ZDeployment } from '../../contract/outputs';
import { ZAppRef } from '../../contract/schemas';
import { changeConfig, deployConfig, listConfig } from '../../services/config/config.service';
import { createTRPCRouter, deployerProcedure, readerProcedure } from '../init';

const ZChanges = z.object({ set: z.array(z.string()), unset: z.array(z.string()), settings: z.array(z.string()) });

export const configRouter = createTRPCRouter({
  list: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps/{app_name}/config', tags: ['config'], summary: "An app's config: plain values, secrets masked", protect: true } })
    .input(ZAppRef)
    .output(ZConfigView)
    .query(({ ctx, input }) => listConfig(ctx.svc, input.app_name)),
  change: deployerProcedure
    .meta({
      openapi: {
        method: 'PATCH',
        path: '/apps/{app_name}/config',
        tags: ['config'],
        summary: 'Set, set as secret or unset variables: a new config version, deployed unless deploy is false',
        protect: true,
      },
    })
    .input(ZConfigChangeInput)
    .output(z.object({ config: ZConfigView, deployment: ZDeployment.nullable(), changes: ZChanges }))
    .mutation(({ ctx, input }) => changeConfig(ctx.svc, input)),
  deploy: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/config/deploy', tags: ['config'], summary: 'Deploy the staged config with the running artifact', protect: true } })
    .input(ZConfigDeployInput)
    .output(ZCreateDeploymentResult)
    .mutation(({ ctx, input }) => deployConfig(ctx.svc, input.app_name)),
});
