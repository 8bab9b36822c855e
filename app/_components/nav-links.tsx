'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';

export interface NavGroup {
  label: string | null;
  links: Array<{ href: string; label: string }>;
}

/** The portal's sections; the current one is marked for sighted and screen-reader users alike. */
export function NavLinks({ groups }: { groups: NavGroup[] }) {
  const path = usePathname();
  const isCurrent = (href: string) => (href === '/console' ? path === '/console' || path.startsWith('/console/apps') : path.startsWith(href));
  return (
    <nav aria-label="Portal" className="nav">
      {groups.map((g) => (
        <ul key={g.label ?? 'main'} aria-label={g.label ?? undefined} className="nav-group">
          {g.label ? <li className="nav-label" aria-hidden="true">{g.label}</li> : null}
          {g.links.map((l) => (
            <li key={l.href}>
              <Link href={l.href} aria-current={isCurrent(l.href) ? 'page' : undefined}>
                {l.label}
              </Link>
            </li>
          ))}
        </ul>
      ))}
    </nav>
  );
}
