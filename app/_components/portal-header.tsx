import { cookies } from 'next/headers';
import { signOut } from '../actions';
import { getPortalCaller } from '../_trpc/server';
import { NavLinks, type NavGroup } from './nav-links';

/** The top bar: sections the signed-in role may use (Admin only for admins), who is signed in, sign out. */
export async function PortalHeader() {
  // Outside the catch: reading the cookie is what tells Next this header is per request.
  await cookies();
  // A header must never take the page down with it: no session (or no database) shows no nav.
  const session = await getPortalCaller().catch(() => null);
  const groups: NavGroup[] = [
    {
      label: null,
      links: [
        { href: '/console', label: 'Apps' },
        { href: '/console/audit', label: 'Audit log' },
      ],
    },
  ];
  if (session?.actor.role === 'admin') {
    groups.push({
      label: 'Admin',
      links: [
        { href: '/console/admin/queues', label: 'Queues' },
        { href: '/console/admin/metrics', label: 'Metrics' },
        { href: '/console/admin/tokens', label: 'API tokens' },
      ],
    });
  }
  return (
    <header className="top">
      <a href="/console" className="brand">Aether</a>
      {session ? (
        <>
          <NavLinks groups={groups} />
          <form action={signOut} className="who">
            <span>
              {session.actor.name} <span className={`role role-${session.actor.role}`}>{session.actor.role}</span>
            </span>
            <button type="submit" className="secondary">Sign out</button>
          </form>
        </>
      ) : null}
    </header>
  );
}
