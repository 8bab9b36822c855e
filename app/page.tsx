import { getPortalCaller } from './_trpc/server';
import { signOut } from './actions';
import { SignInForm } from './_components/sign-in-form';

export const dynamic = 'force-dynamic';

function Status({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status.replace('_', ' ')}</span>;
}

export default async function HomePage() {
  const session = await getPortalCaller();
  if (!session) return <SignInForm />;
  const apps = await session.caller.apps.list();
  const deploymentsByApp = await Promise.all(apps.map((a) => session.caller.deployments.list({ app_name: a.name, limit: 5 })));

  return (
    <>
      <div className="row">
        <h1>Applications</h1>
        <form action={signOut}>
          <span className="muted">{`${session.actor.name} (${session.actor.role})`} </span>
          <button type="submit">Sign out</button>
        </form>
      </div>
      {apps.length === 0 ? (
        <p className="card">No applications yet. Run <code>aether deploy</code> in a Node.js project to create one.</p>
      ) : null}
      {apps.map((app, i) => (
        <section key={app.id} className="card" aria-labelledby={`app-${app.id}`}>
          <div className="row">
            <h2 id={`app-${app.id}`}>{app.name}</h2>
            <span>
              {app.current ? <a href={app.current.url ?? '#'}>{app.current.url}</a> : <span className="muted">not running</span>}
            </span>
          </div>
          <p className="muted">owner {app.owner}</p>
          <table>
            <thead>
              <tr><th>Deployment</th><th>Digest</th><th>Status</th><th>By</th><th>Created</th></tr>
            </thead>
            <tbody>
              {(deploymentsByApp[i] ?? []).map((d) => (
                <tr key={d.id}>
                  <td><code>{d.id.slice(0, 8)}</code></td>
                  <td><code>{d.digest.slice(0, 12)}</code></td>
                  <td><Status status={d.status} />{d.failure_reason ? <span className="muted"> ({d.failure_reason})</span> : null}</td>
                  <td>{d.created_by}</td>
                  <td><time dateTime={d.created_at}>{d.created_at.replace('T', ' ').slice(0, 19)}</time></td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}
