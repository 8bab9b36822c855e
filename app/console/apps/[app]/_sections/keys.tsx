import { ActionForm } from '../../../../_components/action-form';
import { ConfirmAction } from '../../../../_components/confirm-action';
import { describeError } from '../../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../../_components/error-panel';
import { formatTime } from '../../../../_components/format';
import { Badge } from '../../../../_components/status';
import { addKeyAction, deactivateKeyAction } from '../../../actions';
import type { App, Caller } from './types';

/** Ed25519 keys whose signatures mark this app's artifacts verified. Changing them is an admin's trust decision. */
export async function KeysSection({ caller, app, canEdit }: { caller: Caller; app: App; canEdit: boolean }) {
  let keys;
  try {
    keys = await caller.keys.list({ app_name: app.name });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading signing keys" />;
  }
  return (
    <section aria-labelledby="keys-title" className="card">
      <h2 id="keys-title">Signing keys</h2>
      {keys.length === 0 ? (
        <Empty>No signing keys: artifacts of {app.name} are stored unverified. {canEdit ? 'Add the public key your CI signs with below.' : 'An admin can add one.'}</Empty>
      ) : (
        <ul className="keys">
          {keys.map((k) => (
            <li key={k.key_id} className="key">
              <div className="row">
                <code className="fingerprint">{k.fingerprint}</code>
                {k.active ? <Badge tone="ok">active</Badge> : <Badge tone="idle">deactivated</Badge>}
              </div>
              <p className="muted small">
                added {formatTime(k.created_at)}
                {k.deactivated_at ? ` · deactivated ${formatTime(k.deactivated_at)}` : ''}
              </p>
              {canEdit && k.active ? (
                <ConfirmAction
                  action={deactivateKeyAction}
                  fields={{ app_name: app.name, key_id: k.key_id }}
                  trigger="Deactivate"
                  title="Deactivate this key?"
                  body={<p>New artifacts signed with <code>{k.fingerprint}</code> will no longer be verified. Artifacts it already verified keep their flag. You can add the key again later.</p>}
                  confirm="Deactivate"
                  danger
                />
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {canEdit ? (
        <ActionForm action={addKeyAction} submit="Add key" pendingLabel="Adding…" label="Add a signing key" className="stack-form">
          <input type="hidden" name="app_name" value={app.name} />
          <label htmlFor="public_key_hex">Public key (Ed25519, 64 hex characters)</label>
          <input id="public_key_hex" name="public_key_hex" required pattern="[0-9a-fA-F]{64}" spellCheck={false} autoComplete="off" className="mono" aria-describedby="key-help" />
          <span id="key-help" className="muted small"><code>aether keys generate</code> prints it. Only the public half: never paste a private key.</span>
        </ActionForm>
      ) : null}
    </section>
  );
}
