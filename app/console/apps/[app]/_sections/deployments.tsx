import Link from 'next/link';
import { AutoRefresh } from '../../../../_components/auto-refresh';
import { ConfirmAction } from '../../../../_components/confirm-action';
import { describeError } from '../../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../../_components/error-panel';
import { formatAgo, formatDuration, formatTime, shortDigest, shortId } from '../../../../_components/format';
import { deploymentFailureText } from '../../../../_components/plain-words';
import { DeploymentStatus } from '../../../../_components/status';
import type { TTimelineEntry } from '../../../../../server/contract/console';
import { rollbackAction } from '../../../actions';
import type { App, Caller } from './types';

/** Phases that are transitions, not timed work: shown as markers, not as steps with durations. */
const MARKERS = new Set(['created', 'rolling_out', 'running', 'failed', 'superseded', 'rolled_back']);
/** Notes about the release rather than steps of its rollout: shown above the phases. */
const NOTES = new Set(['config']);
/** A deployment that ran once can be run again; one that never ran is no rollback target. */
const ROLLBACK_TARGETS = new Set(['superseded', 'rolled_back']);
const IN_FLIGHT = new Set(['pending', 'rolling_out']);

function timeToRunning(d: TTimelineEntry): number | null {
  if (!d.rollout_completed_at || d.status === 'failed') return null;
  return Date.parse(d.rollout_completed_at) - Date.parse(d.created_at);
}

function Phases({ d }: { d: TTimelineEntry }) {
  const steps = d.events.filter((e) => (!MARKERS.has(e.phase) && !NOTES.has(e.phase)) || e.phase === 'failed');
  if (steps.length === 0) return <p className="muted small">{d.status === 'pending' ? 'Waiting for a worker to pick up the rollout.' : 'No phases recorded.'}</p>;
  return (
    <ol className="phases" aria-label={`Phases of deployment ${shortId(d.id)}`}>
      {steps.map((e) => (
        <li key={e.id} className={e.phase === 'failed' ? 'phase phase-failed' : 'phase'}>
          <span className="phase-name">{e.phase}</span>
          <span className="phase-time">{e.phase === 'failed' ? 'failed' : formatDuration(e.duration_ms)}</span>
          {e.message ? <span className="phase-msg" title={e.message}>{e.message}</span> : null}
        </li>
      ))}
    </ol>
  );
}

function Entry({ d, app, canDeploy, now }: { d: TTimelineEntry; app: App; canDeploy: boolean; now: number }) {
  const failure = deploymentFailureText(d.failure_reason);
  const ttr = timeToRunning(d);
  const isCurrent = app.current?.id === d.id;
  return (
    <li className={`deploy deploy-${d.status}`} aria-labelledby={`dep-${d.id}`}>
      <div className="row">
        <h3 id={`dep-${d.id}`} className="deploy-title">
          <DeploymentStatus status={d.status} /> <code>{shortId(d.id)}</code>
          {isCurrent ? <span className="tag">current</span> : null}
        </h3>
        <span className="muted small">
          <time dateTime={d.created_at} title={formatTime(d.created_at)}>{formatAgo(d.created_at, now)}</time> by {d.created_by}
        </span>
      </div>
      <p className="small">
        digest <code title={d.digest}>{shortDigest(d.digest)}</code>
        {ttr !== null ? <> · running after <strong>{formatDuration(ttr)}</strong></> : null}
      </p>
      {failure ? (
        <p className="failure" role="note">
          {failure} <code className="muted">({d.failure_reason})</code>
        </p>
      ) : null}
      {d.events
        .filter((e) => e.phase === 'config' && e.message)
        .map((e) => (
          <p key={e.id} className="small config-note">
            <span className="tag">config</span> {e.message?.replace(/^config /, '')}
          </p>
        ))}
      <Phases d={d} />
      <div className="row-start">
        <Link href={`/console/apps/${app.name}?tab=logs&deployment=${d.id}`}>Logs</Link>
        {canDeploy && ROLLBACK_TARGETS.has(d.status) && d.digest !== app.current?.digest ? (
          <ConfirmAction
            action={rollbackAction}
            fields={{ app_name: app.name, to: d.id }}
            trigger="Roll back to this"
            title={`Roll ${app.name} back?`}
            body={
              <p>
                This runs deployment <code>{shortId(d.id)}</code> (digest <code>{shortDigest(d.digest)}</code>) again and replaces what serves now
                {app.current ? <> (<code>{shortId(app.current.id)}</code>)</> : null}. The current version keeps serving until the rollback is healthy.
              </p>
            }
            confirm="Roll back"
            danger
          />
        ) : null}
      </div>
    </li>
  );
}

/** The deploy history, newest first, each with its phases and durations (a page at a time). */
export async function DeploymentsSection({ caller, app, cursor, canDeploy, now }: { caller: Caller; app: App; cursor?: string; canDeploy: boolean; now: number }) {
  let page;
  try {
    page = await caller.console.timeline({ app_name: app.name, limit: 20, cursor });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading deployments" />;
  }
  if (page.items.length === 0) {
    return <Empty>{cursor ? 'No older deployments.' : <>No deployments yet. Run <code>aether deploy</code> in the project to ship the first one.</>}</Empty>;
  }
  return (
    <section aria-labelledby="deployments-title">
      <h2 id="deployments-title" className="sr-only">Deployments</h2>
      <AutoRefresh active={page.items.some((d) => IN_FLIGHT.has(d.status))} />
      <ol className="timeline">
        {page.items.map((d) => (
          <Entry key={d.id} d={d} app={app} canDeploy={canDeploy} now={now} />
        ))}
      </ol>
      <div className="row-start">
        {cursor ? <Link href={`/console/apps/${app.name}`}>Newest</Link> : null}
        {page.next_cursor ? <Link href={`/console/apps/${app.name}?cursor=${page.next_cursor}`}>Older deployments</Link> : null}
      </div>
    </section>
  );
}
