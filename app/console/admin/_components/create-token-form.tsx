'use client';
import { useActionState, useRef, useState } from 'react';
import styles from '../admin.module.css';
import { createTokenAction, type CreateTokenResult } from '../actions';

const IDLE: CreateTokenResult = { ok: false, message: null };

/**
 * Issues a token and shows its secret this once: it lives only in this component's state
 * (never in the URL, the page's server render, or storage) and goes away when dismissed.
 * `teams`: the existing teams, offered as checkboxes; none ticked means every team.
 */
export function CreateTokenForm({ teams }: { teams: readonly string[] }) {
  const [state, action, pending] = useActionState(createTokenAction, IDLE);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const secret = state.ok && state.token && state.token !== dismissed ? state.token : null;

  const copy = async () => {
    if (!secret) return;
    await navigator.clipboard?.writeText(secret).then(() => setCopied(true), () => setCopied(false));
  };

  return (
    <>
      {secret ? (
        <section className={`card ${styles.secret}`} aria-labelledby="new-token" role="status">
          <h2 id="new-token">Copy the token for “{state.name}” now</h2>
          <p>It is shown only this once: Aether keeps only a hash of it. Store it in your CI secrets or password manager.</p>
          <code data-testid="new-token">{secret}</code>
          <div className="row-start">
            <button type="button" className="secondary" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>
            <button
              type="button"
              onClick={() => {
                setDismissed(secret);
                setCopied(false);
                form.current?.reset();
              }}
            >
              I have stored it
            </button>
          </div>
        </section>
      ) : null}
      <form ref={form} action={action} className="grid-form card" aria-label="Create an API token">
        <h2 className="span-all">Create a token</h2>
        <label htmlFor="token-name">Name</label>
        <input id="token-name" name="name" required maxLength={100} placeholder="ci-deploys" aria-describedby="token-name-help" />
        <span id="token-name-help" className="muted small span-all">Who or what uses it, so the list says whose it is.</span>
        <label htmlFor="token-role">Role</label>
        <select id="token-role" name="role" defaultValue="deployer">
          <option value="reader">reader: look only</option>
          <option value="deployer">deployer: upload and deploy</option>
          <option value="admin">admin: everything</option>
        </select>
        <fieldset className="span-all" aria-describedby="token-teams-help">
          <legend>Teams</legend>
          {teams.map((team) => (
            <label key={team} className="row-start">
              <input type="checkbox" name="teams" value={team} /> {team}
            </label>
          ))}
          <span id="token-teams-help" className="muted small">
            None ticked: every team. Deployer and reader tokens only; admins see every team.
          </span>
        </fieldset>
        <label htmlFor="token-expiry">Expires after (days)</label>
        <input id="token-expiry" name="expires_in_days" type="number" min={1} max={3650} placeholder="never" />
        <button type="submit" disabled={pending}>{pending ? 'Creating…' : 'Create token'}</button>
        {state.message && !state.ok ? (
          <p role="alert" className="error">
            {state.message} {state.code ? <code className="muted">({state.code})</code> : null}
          </p>
        ) : null}
      </form>
    </>
  );
}
