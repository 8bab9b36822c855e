import { ActionForm } from '../../../../_components/action-form';
import { describeError } from '../../../../_components/describe-error';
import { ErrorPanel } from '../../../../_components/error-panel';
import { moveAppTeamAction, updateSettingsAction } from '../../../config-actions';
import type { TConfigView } from '../../../../../server/contract/config';
import { DeployChoice, StagedNotice } from './release-choice';
import type { App, Caller } from './types';

/** The team select, for admins: moving an app changes who sees it, so it is an admin's call. */
async function MoveTeam({ caller, app }: { caller: Caller; app: App }) {
  let teams;
  try {
    teams = await caller.teams.list();
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading the teams" />;
  }
  return (
    <ActionForm action={moveAppTeamAction} submit="Move app" pendingLabel="Moving…" label="Move to another team" className="inline-form">
      <input type="hidden" name="app_name" value={app.name} />
      <label htmlFor="move-team">Team</label>
      <select id="move-team" name="team" defaultValue={app.team}>
        {teams.map((t) => (
          <option key={t.name} value={t.name}>{t.name}</option>
        ))}
      </select>
      <span className="muted small">Members of other teams stop seeing {app.name}; admins always see it.</span>
    </ActionForm>
  );
}

function SettingsForm({ app, config }: { app: App; config: TConfigView }) {
  const { settings } = config;
  return (
    <ActionForm action={updateSettingsAction} submit="Save settings" pendingLabel="Saving…" label="App settings" className="grid-form">
      <input type="hidden" name="app_name" value={app.name} />
      <label htmlFor="start_command">Start command</label>
      <input id="start_command" name="start_command" defaultValue={settings.start_command ?? ''} placeholder="npm start" spellCheck={false} className="mono" />
      <label htmlFor="health_path">Health-check path</label>
      <input id="health_path" name="health_path" defaultValue={settings.health_path ?? ''} placeholder="platform default" spellCheck={false} className="mono" />
      <label htmlFor="health_timeout_secs">Health-check timeout (s)</label>
      <input
        id="health_timeout_secs"
        name="health_timeout_secs"
        type="number"
        min={1}
        max={3600}
        step={1}
        inputMode="numeric"
        defaultValue={settings.health_timeout_secs ?? ''}
        placeholder="platform default"
      />
      <p className="muted small span-all">Leave a field empty for the platform default. A change is a new release, rolled out and health-checked like a config change.</p>
      <div className="span-all"><DeployChoice staged={config.staged} /></div>
    </ActionForm>
  );
}

const orDefault = (v: string | number | null) => (v === null ? <span className="muted">platform default</span> : <code>{v}</code>);

function SettingsFacts({ settings }: { settings: TConfigView['settings'] }) {
  return (
    <dl className="facts">
      <div><dt>Start command</dt><dd>{settings.start_command === null ? <code>npm start</code> : <code>{settings.start_command}</code>}</dd></div>
      <div><dt>Health-check path</dt><dd>{orDefault(settings.health_path)}</dd></div>
      <div><dt>Health-check timeout (s)</dt><dd>{orDefault(settings.health_timeout_secs)}</dd></div>
    </dl>
  );
}

/** Per-app start command and health check, recorded in the release like config; and the owning team. */
export async function SettingsSection({ caller, app, canEdit, isAdmin }: { caller: Caller; app: App; canEdit: boolean; isAdmin: boolean }) {
  let config;
  try {
    config = await caller.config.list({ app_name: app.name });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading the settings" />;
  }
  return (
    <>
      <section aria-labelledby="settings-title" className="card">
        <h2 id="settings-title">Settings</h2>
        <StagedNotice config={config} canDeploy={canEdit} />
        {canEdit ? <SettingsForm app={app} config={config} /> : <SettingsFacts settings={config.settings} />}
      </section>
      <section aria-labelledby="team-title" className="card">
        <h2 id="team-title">Team</h2>
        <p>{app.name} belongs to team <strong>{app.team}</strong>.</p>
        {isAdmin ? <MoveTeam caller={caller} app={app} /> : null}
      </section>
    </>
  );
}
