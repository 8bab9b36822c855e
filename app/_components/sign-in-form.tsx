'use client';
import { usePathname, useSearchParams } from 'next/navigation';
import { useActionState } from 'react';
import { signIn } from '../actions';

/** Sign in with an API token; afterwards the user lands back on the page they asked for. */
export function SignInForm({ returnTo }: { returnTo?: string }) {
  const [state, action, pending] = useActionState(signIn, { error: null });
  const path = usePathname();
  const query = useSearchParams().toString();
  const back = returnTo ?? `${path}${query ? `?${query}` : ''}`;
  return (
    <form action={action} className="card signin" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      <input type="hidden" name="return_to" value={back} />
      <label htmlFor="token">API token</label>
      <input id="token" name="token" type="password" autoComplete="off" required aria-describedby="token-help" />
      <p id="token-help" className="muted">
        A token an admin created for you. It is kept in an httpOnly cookie for 12 hours and never shown again.
      </p>
      {state.error ? <p role="alert" className="error">{state.error}</p> : null}
      <button type="submit" disabled={pending}>{pending ? 'Signing in…' : 'Sign in'}</button>
    </form>
  );
}
