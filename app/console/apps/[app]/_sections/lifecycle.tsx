import { ActionForm } from '../../../../_components/action-form';
import { AutoRefresh } from '../../../../_components/auto-refresh';
import { ConfirmAction } from '../../../../_components/confirm-action';
import { AppHealth } from '../../../../_components/status';
import { restartAppAction, scaleAppAction, startAppAction, stopAppAction } from '../../../lifecycle-actions';
import type { App } from './types';

/** Health states the runtime is still working through: the page follows them by itself. */
const SETTLING = new Set(['restarting', 'degraded']);

/** The app's one address: the app's stable URL (the running release's, which is the same router URL, as a fallback). */
export const stableUrl = (app: App) => app.url ?? app.current?.url ?? null;

/** Health, stable URL and instance count: facts for the app's head, apart from the deployment status. */
export function RuntimeFacts({ app }: { app: App }) {
  const url = stableUrl(app);
  return (
    <>
      <div>
        <dt>Health</dt>
        <dd>
          <AppHealth health={app.health} message={app.health_message} />
          {app.health_message ? <span className="muted small" data-testid="health-message"> {app.health_message}</span> : null}
        </dd>
      </div>
      <div>
        <dt>Stable URL</dt>
        <dd>{url ? <a href={url} data-testid="stable-url">{url}</a> : <span className="muted">–</span>}</dd>
      </div>
      <div>
        <dt>Instances</dt>
        <dd data-testid="instances">{app.instances === 0 ? '0 (stopped)' : app.instances}</dd>
      </div>
    </>
  );
}

/**
 * Scale, stop, start and restart, for deployers and admins. Readers see the controls disabled,
 * so they know they exist; the server checks the role again whatever is shown.
 */
export function LifecycleControls({ app, canDeploy }: { app: App; canDeploy: boolean }) {
  const fields = { app_name: app.name };
  const running = app.current !== null;
  return (
    <section aria-labelledby="lifecycle-title" className="card">
      <h2 id="lifecycle-title">Instances</h2>
      {!canDeploy ? <p className="muted small">Only deployers and admins can scale, stop, start or restart {app.name}.</p> : null}
      {!running ? <p className="muted small">Nothing runs yet: deploy {app.name} first.</p> : null}
      {canDeploy ? (
        <div className="row">
          <ActionForm action={scaleAppAction} submit="Apply" pendingLabel="Scaling…" label="Scale" className="inline-form">
            <input type="hidden" name="app_name" value={app.name} />
            <label htmlFor="scale-instances">Instances</label>
            <input id="scale-instances" name="instances" type="number" min={0} step={1} inputMode="numeric" defaultValue={app.instances} required />
          </ActionForm>
          <ActionForm action={startAppAction} submit="Start" pendingLabel="Starting…" label="Start">
            <input type="hidden" name="app_name" value={app.name} />
          </ActionForm>
          <ActionForm action={restartAppAction} submit="Restart" pendingLabel="Restarting…" label="Restart">
            <input type="hidden" name="app_name" value={app.name} />
          </ActionForm>
          <ConfirmAction
            action={stopAppAction}
            fields={fields}
            trigger="Stop"
            title={`Stop ${app.name}?`}
            body={<p>Every instance stops and {app.name} answers nothing until it is started again. Its release stays current.</p>}
            confirm="Stop app"
            danger
          />
        </div>
      ) : (
        <div className="row" aria-label="Instance controls (deployers only)">
          <label htmlFor="scale-instances-ro">Instances</label>
          <input id="scale-instances-ro" type="number" value={app.instances} disabled readOnly />
          <button type="button" disabled>Apply</button>
          <button type="button" disabled>Start</button>
          <button type="button" disabled>Restart</button>
          <button type="button" className="secondary danger" disabled>Stop</button>
        </div>
      )}
      <AutoRefresh active={app.health !== null && SETTLING.has(app.health)} />
    </section>
  );
}
