import { z } from 'zod';
import { ZTeam, ZTeamRef } from '../../contract/teams';
import { createTeam, deleteTeam, listTeams } from '../../services/teams/teams.service';
import { adminProcedure, createTRPCRouter, readerProcedure } from '../init';

export const teamsRouter = createTRPCRouter({
  list: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/teams', tags: ['teams'], summary: 'Teams you see, with their app counts', protect: true } })
    .input(z.object({}).optional())
    .output(z.array(ZTeam))
    .query(({ ctx }) => listTeams(ctx.svc)),
  create: adminProcedure
    .meta({ openapi: { method: 'POST', path: '/teams', tags: ['teams'], summary: 'Create a team (admin)', protect: true } })
    .input(ZTeamRef)
    .output(ZTeam)
    .mutation(({ ctx, input }) => createTeam(ctx.svc, input.name)),
  delete: adminProcedure
    .meta({ openapi: { method: 'DELETE', path: '/teams/{name}', tags: ['teams'], summary: 'Delete an empty team (admin)', protect: true } })
    .input(ZTeamRef)
    .output(z.object({ deleted: z.literal(true) }))
    .mutation(({ ctx, input }) => deleteTeam(ctx.svc, input.name)),
});
