import { describeError } from '../../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../../_components/error-panel';
import { formatTime, shortDigest, shortId } from '../../../../_components/format';
import { LogViewer } from '../../../../_components/log-viewer';
import type { App, Caller } from './types';

const LIVE = new Set(['running', 'rolling_out', 'pending']);

/** Live output of what runs now, or the output an earlier deployment left behind. */
export async function LogsSection({ caller, app, deploymentId }: { caller: Caller; app: App; deploymentId?: string }) {
  let recent;
  try {
    recent = await caller.console.timeline({ app_name: app.name, limit: 50 });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading deployments" />;
  }
  if (recent.items.length === 0) return <Empty>No deployments yet, so no logs.</Empty>;
  const chosen = recent.items.find((d) => d.id === deploymentId) ?? (app.current ? recent.items.find((d) => d.id === app.current!.id) : undefined) ?? recent.items[0]!;
  const follow = LIVE.has(chosen.status);
  const src = `/console/apps/${app.name}/logs?deployment=${chosen.id}&follow=${follow ? 1 : 0}&tail=500`;
  return (
    <section aria-labelledby="logs-title" className="card">
      <div className="row">
        <h2 id="logs-title">Logs</h2>
        <form method="get" className="inline-form" aria-label="Choose a deployment">
          <input type="hidden" name="tab" value="logs" />
          <label htmlFor="deployment">Deployment</label>
          <select id="deployment" name="deployment" defaultValue={chosen.id}>
            {recent.items.map((d) => (
              <option key={d.id} value={d.id}>
                {shortId(d.id)} · {d.status} · {shortDigest(d.digest)} · {formatTime(d.created_at)}
              </option>
            ))}
          </select>
          <button type="submit" className="secondary">Show</button>
        </form>
      </div>
      <p className="muted small">
        {follow ? 'Following the output of' : 'Output kept from'} deployment <code>{shortId(chosen.id)}</code> ({chosen.status}).
      </p>
      <LogViewer key={src} src={src} follow={follow} label={`Output of deployment ${shortId(chosen.id)}`} />
    </section>
  );
}
