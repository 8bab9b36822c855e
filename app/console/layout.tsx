import type { ReactNode } from 'react';
import { Suspense } from 'react';
import { describeError } from '../_components/describe-error';
import { ErrorPanel } from '../_components/error-panel';
import { SignInForm } from '../_components/sign-in-form';
import { getPortalCaller } from '../_trpc/server';

export const dynamic = 'force-dynamic';

/**
 * Everything under /console needs a signed-in user: others get the sign-in form in place of
 * the page (and come back to it afterwards). Pages still check the session themselves, and
 * the server checks the role of every call whatever the page shows.
 *
 * No tRPC/react-query provider here: pages render on the server and the live parts (logs,
 * auto-refresh) fetch on their own, so pages ship no client data layer.
 */
export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  let session;
  try {
    session = await getPortalCaller();
  } catch (err) {
    // E.g. the database is down: say so with its code, rather than a blank error page.
    return <ErrorPanel error={describeError(err)} what="Checking your session" />;
  }
  if (!session) {
    return (
      <Suspense>
        <SignInForm />
      </Suspense>
    );
  }
  return children;
}
