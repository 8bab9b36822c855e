import { ActionForm } from '../../../../_components/action-form';
import { ConfirmAction } from '../../../../_components/confirm-action';
import { describeError } from '../../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../../_components/error-panel';
import { formatAgo, formatTime } from '../../../../_components/format';
import { Badge } from '../../../../_components/status';
import type { TConfigEntry, TConfigView } from '../../../../../server/contract/config';
import { setConfigVarAction, unsetConfigVarAction } from '../../../config-actions';
import { DeployChoice, StagedNotice } from './release-choice';
import type { App, Caller } from './types';

const SHOWN_CHARS = 120;
const NAME_PATTERN = '[A-Za-z_][A-Za-z0-9_]*';

/** The hidden fields every change carries: the app, and the version it was made against. */
function Target({ config }: { config: TConfigView }) {
  return (
    <>
      <input type="hidden" name="app_name" value={config.app_name} />
      <input type="hidden" name="expected_version" value={config.version} />
    </>
  );
}

/**
 * A plain variable's value as it is; a secret only as its mask. The secret's value never
 * reaches this page: the server does not return it, and no form is prefilled with it.
 */
function Value({ entry }: { entry: TConfigEntry }) {
  if (entry.secret) {
    return (
      <>
        <span aria-hidden="true">{entry.display}</span> <Badge tone="idle">secret</Badge><span className="sr-only"> (value hidden)</span>
      </>
    );
  }
  if (entry.display === '') return <span className="muted">(empty)</span>;
  const long = entry.display.length > SHOWN_CHARS;
  return <code className="config-value">{long ? `${entry.display.slice(0, SHOWN_CHARS)}…` : entry.display}</code>;
}

function EditEntry({ entry, config }: { entry: TConfigEntry; config: TConfigView }) {
  return (
    <details className="edit">
      <summary>{entry.secret ? 'Replace' : 'Edit'}</summary>
      <ActionForm action={setConfigVarAction} submit="Save" pendingLabel="Saving…" label={`Change ${entry.name}`} className="stack-form">
        <Target config={config} />
        <input type="hidden" name="name" value={entry.name} />
        {entry.secret ? <input type="hidden" name="secret" value="on" /> : null}
        <label>
          {entry.secret ? `New secret value of ${entry.name}` : `New value of ${entry.name}`}
          {entry.secret ? (
            <input name="value" type="password" autoComplete="off" spellCheck={false} required className="mono" />
          ) : (
            <input name="value" type="text" autoComplete="off" spellCheck={false} defaultValue={entry.value ?? ''} className="mono" />
          )}
        </label>
        <DeployChoice staged={config.staged} />
      </ActionForm>
    </details>
  );
}

function Entries({ config, canEdit, now }: { config: TConfigView; canEdit: boolean; now: number }) {
  return (
    <div className="table-wrap">
      <table className="config">
        <caption className="sr-only">Environment variables of {config.app_name}</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Value</th>
            <th scope="col">Last set</th>
            {canEdit ? <th scope="col"><span className="sr-only">Actions</span></th> : null}
          </tr>
        </thead>
        <tbody>
          {config.entries.map((e) => (
            <tr key={e.name} data-var={e.name}>
              <th scope="row"><code>{e.name}</code></th>
              <td data-label="Value"><Value entry={e} /></td>
              <td data-label="Last set" className="small">
                set <time dateTime={e.set_at} title={formatTime(e.set_at)}>{formatAgo(e.set_at, now)}</time> by {e.set_by}
              </td>
              {canEdit ? (
                <td className="row-start">
                  <EditEntry entry={e} config={config} />
                  <ConfirmAction
                    action={unsetConfigVarAction}
                    fields={{ app_name: config.app_name, name: e.name, expected_version: String(config.version) }}
                    trigger="Delete"
                    title={`Delete ${e.name}?`}
                    body={
                      <>
                        <p>The app no longer gets <code>{e.name}</code> in its environment once this config is deployed. Earlier releases keep it, so a rollback brings it back.</p>
                        <DeployChoice staged={config.staged} />
                      </>
                    }
                    confirm="Delete"
                    danger
                  />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AddForms({ config }: { config: TConfigView }) {
  return (
    <div className="add-config">
      <ActionForm action={setConfigVarAction} submit="Set variable" pendingLabel="Saving…" label="Set a variable" className="stack-form">
        <h3>Set a variable</h3>
        <Target config={config} />
        <label htmlFor="var-name">Name</label>
        <input id="var-name" name="name" required maxLength={255} pattern={NAME_PATTERN} autoComplete="off" spellCheck={false} className="mono" placeholder="DATABASE_URL" />
        <label htmlFor="var-value">Value</label>
        <input id="var-value" name="value" type="text" autoComplete="off" spellCheck={false} className="mono" />
        <DeployChoice staged={config.staged} />
      </ActionForm>
      <ActionForm action={setConfigVarAction} submit="Set secret" pendingLabel="Saving…" label="Set a secret" className="stack-form">
        <h3>Set a secret</h3>
        <Target config={config} />
        <input type="hidden" name="secret" value="on" />
        <label htmlFor="secret-name">Name</label>
        <input id="secret-name" name="name" required maxLength={255} pattern={NAME_PATTERN} autoComplete="off" spellCheck={false} className="mono" placeholder="API_KEY" />
        <label htmlFor="secret-value">Secret value</label>
        <input id="secret-value" name="value" type="password" required autoComplete="off" spellCheck={false} className="mono" aria-describedby="secret-help" />
        <span id="secret-help" className="muted small">Stored encrypted and write-only: nobody sees it again, here or in the API. Replace it to change it.</span>
        <DeployChoice staged={config.staged} />
      </ActionForm>
    </div>
  );
}

/** The app's environment: plain values, secrets as masks, and (deployers) add, edit, delete, stage and deploy. */
export async function ConfigSection({ caller, app, canEdit, now }: { caller: Caller; app: App; canEdit: boolean; now: number }) {
  let config;
  try {
    config = await caller.config.list({ app_name: app.name });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading the config" />;
  }
  return (
    <section aria-labelledby="config-title" className="card">
      <div className="row">
        <h2 id="config-title">Config</h2>
        <span className="muted small">
          version {config.version} · {config.running_version === null ? 'nothing running' : `v${config.running_version} running`}
        </span>
      </div>
      <StagedNotice config={config} canDeploy={canEdit} />
      {config.entries.length === 0 ? (
        <Empty>No variables: {app.name} gets only <code>PORT</code> and <code>NODE_ENV</code>.{canEdit ? ' Set one below.' : ''}</Empty>
      ) : (
        <Entries config={config} canEdit={canEdit} now={now} />
      )}
      {canEdit ? <AddForms config={config} /> : null}
    </section>
  );
}
