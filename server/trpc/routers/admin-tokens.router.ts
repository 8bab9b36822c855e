import { z } from 'zod';
import { ZCreateTokenInput, ZTokenRef } from '../../services/admin/admin.schemas';
import { createApiToken, listApiTokens, revokeApiTokenOnce } from '../../services/tokens/manage-tokens.service';
import { adminProcedure, createTRPCRouter } from '../init';

/** API tokens: issued here (the plaintext is returned once), listed by hint, revoked. */
export const adminTokensRouter = createTRPCRouter({
  list: adminProcedure
    .input(z.object({ include_inactive: z.boolean().default(false) }).default({ include_inactive: false }))
    .query(({ ctx, input }) => listApiTokens(ctx.svc.db, ctx.svc.staticTokens, { includeInactive: input.include_inactive })),
  create: adminProcedure.input(ZCreateTokenInput).mutation(async ({ ctx, input }) => {
    const { name, role, teams } = input;
    const created = await createApiToken(ctx.svc.db, { name, role, teams, expiresInDays: input.expires_in_days });
    // The plaintext goes to the caller only; the log names the token by id and hint.
    ctx.svc.log.info('admin created api token', { id: created.id, hint: created.hint, role, teams: created.teams, by: ctx.actor.name });
    return created;
  }),
  revoke: adminProcedure.input(ZTokenRef).mutation(async ({ ctx, input }) => {
    const revoked = await revokeApiTokenOnce(ctx.svc.db, input.id);
    ctx.svc.log.info('admin revoked api token', { id: input.id, by: ctx.actor.name });
    return revoked;
  }),
});
