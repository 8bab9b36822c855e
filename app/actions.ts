'use server';
import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { getServices } from '../server/boot';
import { safeReturnPath } from '../server/auth/return-to';
import { requestIdOf } from '../server/http/request-id';
import { recordSignOut, signInWithToken } from '../server/services/auth/sign-in.service';
import { FOREIGN_ACTION, isOwnOriginAction } from './_lib/same-origin-action';
import { getPortalCaller, SESSION_COOKIE } from './_trpc/server';

/** Signs in with an API token: checked and audited first, then kept in an httpOnly, same-site cookie. */
export async function signIn(_prev: { error: string | null }, form: FormData): Promise<{ error: string | null }> {
  if (!(await isOwnOriginAction())) return { error: FOREIGN_ACTION };
  const token = String(form.get('token') ?? '').trim();
  if (!token) return { error: 'Enter an API token.' };
  const services = await getServices();
  try {
    await signInWithToken(services, token, { requestId: requestIdOf(await headers()), via: 'portal' });
  } catch {
    return { error: 'That token is not valid, has expired or was revoked.' };
  }
  (await cookies()).set(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: services.env.AETHER_PUBLIC_URL.startsWith('https:'),
    path: '/',
    maxAge: 12 * 3600,
  });
  redirect(safeReturnPath(form.get('return_to')));
}

export async function signOut(): Promise<void> {
  if (await isOwnOriginAction()) {
    const session = await getPortalCaller();
    if (session) await recordSignOut(await getServices(), session.actor, requestIdOf(await headers()));
    (await cookies()).delete(SESSION_COOKIE);
  }
  redirect('/console');
}
