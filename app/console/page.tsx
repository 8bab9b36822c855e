import Link from 'next/link';
import { ActionForm } from '../_components/action-form';
import { describeError } from '../_components/describe-error';
import { Empty, ErrorPanel } from '../_components/error-panel';
import { formatAgo, formatTime, shortDigest } from '../_components/format';
import { AppHealth, DeploymentStatus, Serving } from '../_components/status';
import { getPortalCaller } from '../_trpc/server';
import { roleAllows } from '../../server/auth/roles';
import { createAppAction } from './actions';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Apps' };

type Params = Promise<Record<string, string | string[] | undefined>>;

/** `default` when the caller sees it, else its first team: a team-limited user cannot create apps in `default`. */
const defaultTeam = (names: string[]) => (names.includes('default') ? 'default' : (names[0] ?? ''));

/** Every app the caller's teams hold, with what it runs, how its last deploy went, and who owns it; searchable by name, owner and team. */
export default async function AppsPage({ searchParams }: { searchParams: Params }) {
  const session = await getPortalCaller();
  if (!session) return null;
  const search = await searchParams;
  const q = String(search.q ?? '').trim();
  const team = String(search.team ?? '').trim();
  const canCreate = roleAllows(session.actor.role, 'deployer');
  let page, teams;
  try {
    [page, teams] = await Promise.all([session.caller.console.apps({ search: q || undefined, team: team || undefined, limit: 100 }), session.caller.teams.list()]);
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading the apps" />;
  }
  const filtered = Boolean(q || team);
  const now = Date.now();
  return (
    <>
      <div className="row">
        <h1>Apps</h1>
        <form role="search" method="get" action="/console" className="search">
          <label htmlFor="q" className="sr-only">Search apps by name or owner</label>
          <input id="q" name="q" type="search" placeholder="Search by name or owner" defaultValue={q} />
          <label htmlFor="team-filter" className="sr-only">Team</label>
          <select id="team-filter" name="team" defaultValue={team}>
            <option value="">All teams</option>
            {teams.map((t) => (
              <option key={t.name} value={t.name}>{t.name}</option>
            ))}
          </select>
          <button type="submit" className="secondary">Search</button>
        </form>
      </div>
      {canCreate ? (
        <details className="card create">
          <summary>Create an app</summary>
          <ActionForm action={createAppAction} submit="Create app" pendingLabel="Creating…" label="Create an app" className="inline-form">
            <label htmlFor="new-app">Name</label>
            <input id="new-app" name="name" required pattern="[a-z0-9]([\-a-z0-9]{0,61}[a-z0-9])?" placeholder="my-service" aria-describedby="new-app-help" />
            <label htmlFor="new-app-team">Team</label>
            <select id="new-app-team" name="team" defaultValue={team || defaultTeam(teams.map((t) => t.name))}>
              {teams.map((t) => (
                <option key={t.name} value={t.name}>{t.name}</option>
              ))}
            </select>
            <span id="new-app-help" className="muted">Lowercase letters, digits and dashes (a DNS label). Usually your package.json name.</span>
          </ActionForm>
        </details>
      ) : null}
      {page.items.length === 0 ? (
        <Empty>
          {filtered ? <>No app matches{q ? ` “${q}”` : ''}{team ? ` in team ${team}` : ''}. <Link href="/console">Show all apps</Link></> : <>No apps yet. Run <code>aether deploy</code> in a Node.js project, or create one above.</>}
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="apps">
            <caption className="sr-only">Applications{q ? ` matching ${q}` : ''}{team ? ` of team ${team}` : ''}</caption>
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">Serving</th>
                <th scope="col">Health</th>
                <th scope="col">Current version</th>
                <th scope="col">Last deploy</th>
                <th scope="col">Team</th>
                <th scope="col">Owner</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((app) => (
                <tr key={app.id}>
                  <th scope="row">
                    <Link href={`/console/apps/${app.name}`}>{app.name}</Link>
                  </th>
                  <td data-label="Serving">
                    <Serving url={app.current?.url ?? null} />
                  </td>
                  <td data-label="Health">
                    <AppHealth health={app.health} message={app.health_message} />
                  </td>
                  <td data-label="Current version">
                    {app.current ? <code title={app.current.digest}>{shortDigest(app.current.digest)}</code> : <span className="muted">none</span>}
                  </td>
                  <td data-label="Last deploy">
                    {app.latest ? (
                      <>
                        <DeploymentStatus status={app.latest.status} />{' '}
                        <time dateTime={app.latest.created_at} title={formatTime(app.latest.created_at)}>{formatAgo(app.latest.created_at, now)}</time>
                        <span className="muted"> by {app.latest.created_by}</span>
                      </>
                    ) : (
                      <span className="muted">never deployed</span>
                    )}
                  </td>
                  <td data-label="Team">
                    <Link href={`/console?team=${app.team}`}>{app.team}</Link>
                  </td>
                  <td data-label="Owner">{app.owner}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {page.more ? <p className="muted">Showing the first {page.items.length} apps; search to narrow down.</p> : null}
        </div>
      )}
    </>
  );
}
