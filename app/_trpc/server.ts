import 'server-only';
import { cookies, headers } from 'next/headers';
import { cache } from 'react';
import { getServices } from '../../server/boot';
import { authenticateToken } from '../../server/auth/tokens';
import { isAppError } from '../../server/errors';
import { requestIdOf } from '../../server/http/request-id';
import { SESSION_COOKIE } from '../../server/http/auth';
import { createInnerContext } from '../../server/trpc/init';
import { createCaller } from '../../server/trpc/root';

export { SESSION_COOKIE };

/**
 * The tRPC caller for server components, acting as the signed-in user (token from the
 * httpOnly session cookie). Null when nobody is signed in or the token stopped working.
 * Once per request (React cache): the header, the layout and the page share one lookup.
 */
export const getPortalCaller = cache(async function getPortalCaller() {
  // The cookie first: it marks the render dynamic before anything touches the database.
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  const services = await getServices();
  try {
    const actor = await authenticateToken(services.db, services.staticTokens, token);
    // One id per portal request: the audit records of its server actions share it.
    const requestId = requestIdOf(await headers());
    return { caller: createCaller(createInnerContext(services, actor, null, requestId)), actor };
  } catch (err) {
    if (isAppError(err) && err.code === 'unauthorized') return null;
    throw err;
  }
});
