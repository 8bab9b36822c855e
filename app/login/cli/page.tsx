import { normalizeUserCode } from '../../../server/contract/auth';
import { CLI_TOKEN_TTL_SECS } from '../../../server/services/auth/cli-login.service';
import { SignInForm } from '../../_components/sign-in-form';
import { getPortalCaller } from '../../_trpc/server';
import { decideCliLogin } from './actions';
import styles from './page.module.css';

export const dynamic = 'force-dynamic';

type Params = Record<string, string | string[] | undefined>;
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? '';

const RESULTS: Record<string, { title: string; body: string }> = {
  approved: { title: 'Approved', body: 'Go back to your terminal: it finishes logging in within a few seconds. You can close this page.' },
  denied: { title: 'Denied', body: 'The terminal that asked will not be logged in.' },
  not_found: { title: 'Code not valid', body: 'That code is unknown, has expired or was already used. Run `aether login` again for a new one.' },
};

/** Where a human approves `aether login`: shows the code, then Approve or Deny as themselves. */
export default async function CliLoginPage({ searchParams }: { searchParams: Promise<Params> }) {
  const params = await searchParams;
  const result = RESULTS[first(params.result)];
  if (result) {
    return (
      <section className={`card ${styles.panel}`} role="status" aria-labelledby="cli-result">
        <h1 id="cli-result">{result.title}</h1>
        <p>{result.body}</p>
      </section>
    );
  }

  const code = normalizeUserCode(first(params.code));
  const session = await getPortalCaller();
  if (!session) {
    return (
      <>
        <section className={`card ${styles.panel}`} aria-labelledby="cli-signin">
          <h1 id="cli-signin">Log in the Aether CLI</h1>
          <p>Sign in to approve {code ? <>the code <strong>{code}</strong></> : 'a code'} from your terminal.</p>
        </section>
        <SignInForm returnTo={code ? `/login/cli?code=${encodeURIComponent(code)}` : "/login/cli"} />
      </>
    );
  }

  if (!code) {
    return (
      <form method="get" action="/login/cli" className={`card ${styles.panel}`} aria-labelledby="cli-enter">
        <h1 id="cli-enter">Log in the Aether CLI</h1>
        <div className={styles.field}>
          <label htmlFor="code">Code shown by <code>aether login</code></label>
          <input id="code" name="code" required autoComplete="off" autoCapitalize="characters" spellCheck={false} placeholder="BCDF-GHJK" defaultValue={first(params.code)} aria-describedby="code-help" />
          <p id="code-help" className="muted">Eight letters, as printed in your terminal.</p>
        </div>
        <button type="submit">Continue</button>
      </form>
    );
  }

  const { name, role, teams } = session.actor;
  return (
    <form action={decideCliLogin} className={`card ${styles.panel}`} aria-labelledby="cli-approve">
      <h1 id="cli-approve">Approve the CLI login?</h1>
      <p>Check that this is the code your terminal shows:</p>
      <p className={styles.code} aria-label={`code ${code.split('').join(' ')}`}>{code}</p>
      <p>
        Approving logs that terminal in as <strong>{name}</strong> with your role (<strong>{role}</strong>)
        {teams ? <> and your teams (<strong>{teams.join(', ')}</strong>)</> : null}
        {` for up to ${CLI_TOKEN_TTL_SECS / 3600} hours (never past your own sign-in, and only if it is still valid when the terminal collects it).`}
        Only approve a login you started yourself, just now.
      </p>
      <input type="hidden" name="user_code" value={code} />
      <div className={styles.actions}>
        <button type="submit" name="decision" value="approve">Approve</button>
        <button type="submit" name="decision" value="deny" className={styles.secondary}>Deny</button>
      </div>
    </form>
  );
}
