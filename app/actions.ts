'use server';
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { getServices } from '../server/boot';
import { safeReturnPath } from '../server/auth/return-to';
import { authenticateToken } from '../server/auth/tokens';
import { FOREIGN_ACTION, isOwnOriginAction } from './_lib/same-origin-action';
import { SESSION_COOKIE } from './_trpc/server';

/** Signs in with an API token: checked first, then kept in an httpOnly, same-site cookie. */
export async function signIn(_prev: { error: string | null }, form: FormData): Promise<{ error: string | null }> {
  if (!(await isOwnOriginAction())) return { error: FOREIGN_ACTION };
  const token = String(form.get('token') ?? '').trim();
  if (!token) return { error: 'Enter an API token.' };
  const services = await getServices();
  try {
    await authenticateToken(services.db, services.staticTokens, token);
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
  if (await isOwnOriginAction()) (await cookies()).delete(SESSION_COOKIE);
  redirect('/console');
}
