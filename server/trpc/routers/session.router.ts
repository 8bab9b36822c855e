import { z } from 'zod';
import { ZWhoami } from '../../contract/outputs';
import { createTRPCRouter, readerProcedure } from '../init';

export const sessionRouter = createTRPCRouter({
  /** Who the presented token belongs to (never the token itself). */
  whoami: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/whoami', tags: ['session'], summary: 'Who the bearer token belongs to', protect: true } })
    .input(z.object({}).optional())
    .output(ZWhoami)
    .query(({ ctx }) => ({ name: ctx.actor.name, role: ctx.actor.role, teams: ctx.actor.teams === null ? null : [...ctx.actor.teams] })),
});
