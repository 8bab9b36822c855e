'use server';
import { TRPCError } from '@trpc/server';
import { redirect } from 'next/navigation';
import { isAppError } from '../../../server/errors';
import { isOwnOriginAction } from '../../_lib/same-origin-action';
import { getPortalCaller } from '../../_trpc/server';

/**
 * Approve or deny a CLI login as the signed-in user (the cookie session). Ends in a redirect,
 * so a reload never re-submits, and the page works without JavaScript.
 */
export async function decideCliLogin(form: FormData): Promise<void> {
  const code = String(form.get('user_code') ?? '');
  if (!(await isOwnOriginAction())) redirect(`/login/cli?code=${encodeURIComponent(code)}`);
  const approve = form.get('decision') === 'approve';
  const session = await getPortalCaller();
  if (!session) redirect(`/login/cli?code=${encodeURIComponent(code)}`);
  let result: 'approved' | 'denied' | 'not_found';
  try {
    const input = { user_code: code };
    result = (approve ? await session.caller.auth.cliApprove(input) : await session.caller.auth.cliDeny(input)).status;
  } catch (err) {
    const cause = err instanceof TRPCError ? err.cause : err;
    if (!(isAppError(cause) && cause.code === 'not_found')) throw err;
    result = 'not_found';
  }
  redirect(`/login/cli?result=${result}`);
}
