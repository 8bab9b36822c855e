import 'server-only';
import { cookies } from 'next/headers';
import { getServices } from '../../server/boot';
import { authenticateToken } from '../../server/auth/tokens';
import { AppError } from '../../server/errors';
import { createInnerContext } from '../../server/trpc/init';
import { createCaller } from '../../server/trpc/root';

export const SESSION_COOKIE = 'aether_session';

/**
 * The tRPC caller for server components, acting as the signed-in user (token from the
 * httpOnly session cookie). Null when nobody is signed in or the token stopped working.
 */
export async function getPortalCaller() {
  const services = await getServices();
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  try {
    const actor = await authenticateToken(services.db, services.staticTokens, token);
    return { caller: createCaller(createInnerContext(services, actor)), actor };
  } catch (err) {
    if (err instanceof AppError && err.code === 'unauthorized') return null;
    throw err;
  }
}
