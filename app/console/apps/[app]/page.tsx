import Link from 'next/link';
import { notFound } from 'next/navigation';
import { describeError } from '../../../_components/describe-error';
import { ErrorPanel } from '../../../_components/error-panel';
import { formatAgo, formatTime, shortDigest } from '../../../_components/format';
import { DeploymentStatus, Serving } from '../../../_components/status';
import { getPortalCaller } from '../../../_trpc/server';
import { roleAllows } from '../../../../server/auth/roles';
import { ArtifactsSection } from './_sections/artifacts';
import { ConfigSection } from './_sections/config';
import { DeploymentsSection } from './_sections/deployments';
import { KeysSection } from './_sections/keys';
import { LifecycleControls, RuntimeFacts } from './_sections/lifecycle';
import { LogsSection } from './_sections/logs';
import { QuotasSection } from './_sections/quotas';
import { SettingsSection } from './_sections/settings';
import { safeDecode } from '../../../../server/url-segment';

export const dynamic = 'force-dynamic';

const TABS = [
  ['deployments', 'Deployments'],
  ['logs', 'Logs'],
  ['config', 'Config'],
  ['settings', 'Settings'],
  ['artifacts', 'Artifacts'],
  ['keys', 'Signing keys'],
  ['quotas', 'Quotas'],
] as const;
type Tab = (typeof TABS)[number][0];

type Params = Promise<{ app: string }>;
type Search = Promise<Record<string, string | string[] | undefined>>;
const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? undefined;

export async function generateMetadata({ params }: { params: Params }) {
  return { title: safeDecode((await params).app) };
}

/** One app, Backstage-style: what runs, how healthy, and who owns it on top, with its instance controls; history, logs, config, settings, bytes, keys and quota a click away. */
export default async function AppPage({ params, searchParams }: { params: Params; searchParams: Search }) {
  const session = await getPortalCaller();
  if (!session) return null;
  const appName = safeDecode((await params).app);
  const search = await searchParams;
  const tab: Tab = TABS.some(([t]) => t === one(search.tab)) ? (one(search.tab) as Tab) : 'deployments';
  let overview;
  try {
    overview = await session.caller.console.app({ app_name: appName });
  } catch (err) {
    const shown = describeError(err);
    if (shown.code === 'not_found' || shown.code === 'bad_request') notFound();
    return <ErrorPanel error={shown} what={`Loading ${appName}`} />;
  }
  const { app } = overview;
  const role = session.actor.role;
  const can = { deploy: roleAllows(role, 'deployer'), admin: roleAllows(role, 'admin') };
  const base = `/console/apps/${app.name}`;
  const now = Date.now();

  return (
    <>
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link href="/console">Apps</Link> <span aria-hidden="true">/</span> <span aria-current="page">{app.name}</span>
      </nav>
      <section className="card app-head" aria-labelledby="app-title">
        <div className="row">
          <h1 id="app-title">{app.name}</h1>
          <Serving url={app.current?.url ?? null} />
        </div>
        <dl className="facts">
          <div><dt>Owner</dt><dd>{app.owner}</dd></div>
          <div><dt>Team</dt><dd><Link href={`/console?team=${app.team}`}>{app.team}</Link></dd></div>
          <div>
            <dt>Current version</dt>
            <dd>{app.current ? <code title={app.current.digest}>{shortDigest(app.current.digest)}</code> : <span className="muted">nothing running</span>}</dd>
          </div>
          <RuntimeFacts app={app} />
          <div>
            <dt>Last deploy</dt>
            <dd>
              {app.latest ? (
                <>
                  <DeploymentStatus status={app.latest.status} />{' '}
                  <time dateTime={app.latest.created_at} title={formatTime(app.latest.created_at)}>{formatAgo(app.latest.created_at, now)}</time>
                </>
              ) : (
                <span className="muted">never</span>
              )}
            </dd>
          </div>
        </dl>
      </section>
      <LifecycleControls app={app} canDeploy={can.deploy} />
      <nav aria-label="App sections" className="tabs">
        {TABS.map(([id, label]) => (
          <Link key={id} href={id === 'deployments' ? base : `${base}?tab=${id}`} aria-current={tab === id ? 'page' : undefined}>
            {label}
            {id === 'deployments' ? <span className="count">{overview.deployments_count}</span> : null}
            {id === 'artifacts' ? <span className="count">{overview.artifacts_count}</span> : null}
          </Link>
        ))}
      </nav>
      {tab === 'deployments' ? <DeploymentsSection caller={session.caller} app={app} cursor={one(search.cursor)} canDeploy={can.deploy} now={now} /> : null}
      {tab === 'logs' ? <LogsSection caller={session.caller} app={app} deploymentId={one(search.deployment)} /> : null}
      {tab === 'config' ? <ConfigSection caller={session.caller} app={app} canEdit={can.deploy} now={now} /> : null}
      {tab === 'settings' ? <SettingsSection caller={session.caller} app={app} canEdit={can.deploy} isAdmin={can.admin} /> : null}
      {tab === 'artifacts' ? <ArtifactsSection caller={session.caller} app={app} cursor={one(search.cursor)} status={one(search.status)} now={now} /> : null}
      {tab === 'keys' ? <KeysSection caller={session.caller} app={app} canEdit={can.admin} /> : null}
      {tab === 'quotas' ? <QuotasSection caller={session.caller} app={app} canEdit={can.admin} /> : null}
    </>
  );
}
