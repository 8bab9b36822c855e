import { z } from 'zod';
import {
  ZCliDecisionResult,
  ZCliPollInput,
  ZCliPollResult,
  ZCliStartResult,
  ZLogoutResult,
  ZRefreshResult,
  ZUserCodeInput,
} from '../../contract/auth';
import { decideCliLogin, pollCliLogin, startCliLogin } from '../../services/auth/cli-login.service';
import { refreshSessionToken, revokePresentedToken } from '../../services/auth/session-token.service';
import { createTRPCRouter, publicProcedure, readerProcedure } from '../init';

const tags = ['auth'];
const post = (path: `/${string}`, summary: string, protect = true) => ({ openapi: { method: 'POST' as const, path, tags, summary, protect } });

/**
 * `aether login` without a pasted token (device authorization, as `gh auth login`): the CLI
 * starts a login and polls; a signed-in portal user approves its code with their own role.
 */
export const authRouter = createTRPCRouter({
  /** Public: whoever starts a login gets nothing until a signed-in user approves it. */
  cliStart: publicProcedure
    .meta(post('/auth/cli/start', 'Start a CLI login: a secret device code and a user code to approve', false))
    .input(z.object({}).optional())
    .output(ZCliStartResult)
    .mutation(({ ctx }) => startCliLogin(ctx.services)),
  /** Public: the device code is the credential. Returns the token once, on the first poll after approval. */
  cliPoll: publicProcedure
    .meta(post('/auth/cli/poll', 'Poll a CLI login: pending, approved (with a token, once), denied or expired', false))
    .input(ZCliPollInput)
    .output(ZCliPollResult)
    .mutation(({ ctx, input }) => pollCliLogin(ctx.services, input)),
  cliApprove: readerProcedure
    .meta(post('/auth/cli/approve', 'Approve a pending CLI login by its user code, with your own role'))
    .input(ZUserCodeInput)
    .output(ZCliDecisionResult)
    .mutation(({ ctx, input }) => decideCliLogin(ctx.svc, input, 'approved')),
  cliDeny: readerProcedure
    .meta(post('/auth/cli/deny', 'Deny a pending CLI login by its user code'))
    .input(ZUserCodeInput)
    .output(ZCliDecisionResult)
    .mutation(({ ctx, input }) => decideCliLogin(ctx.svc, input, 'denied')),
  refresh: readerProcedure
    .meta(post('/auth/refresh', 'Swap a CLI session token for a new one with a fresh expiry (the old one is revoked)'))
    .input(z.object({}).optional())
    .output(ZRefreshResult)
    .mutation(({ ctx }) => refreshSessionToken(ctx.svc)),
  logout: readerProcedure
    .meta(post('/auth/logout', 'Revoke the presented token (database tokens only)'))
    .input(z.object({}).optional())
    .output(ZLogoutResult)
    .mutation(({ ctx }) => revokePresentedToken(ctx.svc)),
});
