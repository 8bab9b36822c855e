'use client';
import Link from 'next/link';
import { useActionState, type ReactNode } from 'react';
import { IDLE, type ActionResult } from './action-result';

/**
 * A form bound to a server action: disables its submit while pending and announces the
 * outcome (success politely, errors assertively) next to the controls that caused it.
 */
export function ActionForm({
  action,
  children,
  submit,
  pendingLabel,
  className,
  label,
}: {
  action: (prev: ActionResult, form: FormData) => Promise<ActionResult>;
  children?: ReactNode;
  submit: string;
  pendingLabel?: string;
  className?: string;
  label: string;
}) {
  const [state, formAction, pending] = useActionState(action, IDLE);
  return (
    <form action={formAction} className={className ?? 'action-form'} aria-label={label}>
      {children}
      <button type="submit" disabled={pending}>{pending ? (pendingLabel ?? 'Working…') : submit}</button>
      {state.message ? (
        <p role={state.ok ? 'status' : 'alert'} className={state.ok ? 'notice' : 'error'}>
          {state.message}
          {!state.ok && state.code ? <code className="muted"> ({state.code})</code> : null}
          {state.ok && state.link ? <> <Link href={state.link.href}>{state.link.label}</Link></> : null}
        </p>
      ) : null}
    </form>
  );
}
