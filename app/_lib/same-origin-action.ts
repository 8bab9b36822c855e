import 'server-only';
import { headers } from 'next/headers';
import { isSameOriginRequest } from '../../server/auth/same-origin';
import { getServices } from '../../server/boot';

export const FOREIGN_ACTION = 'This request did not come from the portal.';

/**
 * Whether the server action being run was posted by our own pages. proxy.ts refuses the others
 * first; this keeps each action safe should a matcher or a route ever change.
 */
export async function isOwnOriginAction(): Promise<boolean> {
  const services = await getServices();
  return isSameOriginRequest(await headers(), services.env.AETHER_PUBLIC_URL);
}
