'use client';
import { useActionState } from 'react';
import { signIn } from '../actions';

export function SignInForm({ returnTo }: { returnTo?: string }) {
  const [state, action, pending] = useActionState(signIn, { error: null });
  return (
    <form action={action} className="card signin">
      <h2>Sign in</h2>
      {returnTo ? <input type="hidden" name="return_to" value={returnTo} /> : null}
      <label htmlFor="token">API token</label>
      <input id="token" name="token" type="password" autoComplete="off" required />
      {state.error ? <p role="alert" className="error">{state.error}</p> : null}
      <button type="submit" disabled={pending}>{pending ? 'Signing in…' : 'Sign in'}</button>
    </form>
  );
}
