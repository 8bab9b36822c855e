import type { ReactNode } from 'react';
import { ErrorPanel } from '../../_components/error-panel';
import { ERROR_TITLES } from '../../_components/plain-words';
import { getPortalCaller } from '../../_trpc/server';

export const dynamic = 'force-dynamic';

/**
 * Admin pages are for admins. Others see why instead of a page of refusals; this is only a
 * courtesy: every admin procedure checks the role on the server whatever renders here.
 */
export default async function AdminLayout({ children }: { children: ReactNode }) {
  const session = await getPortalCaller();
  // The console layout shows the sign-in form to anonymous visitors.
  if (!session) return null;
  if (session.actor.role !== 'admin') {
    return (
      <ErrorPanel
        error={{ code: 'forbidden', title: ERROR_TITLES.forbidden!, message: `The admin pages need the admin role; you are signed in as ${session.actor.role}.` }}
      />
    );
  }
  return children;
}
