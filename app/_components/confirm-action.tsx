'use client';
import Link from 'next/link';
import { useActionState, useId, useRef, type ReactNode } from 'react';
import { IDLE, type ActionResult } from './action-result';

/**
 * A button that asks first: it opens a modal dialog (focus moves into it, Escape cancels)
 * whose confirm button submits the server action with `fields` as hidden inputs.
 */
export function ConfirmAction({
  action,
  fields,
  trigger,
  title,
  body,
  confirm,
  danger,
}: {
  action: (prev: ActionResult, form: FormData) => Promise<ActionResult>;
  fields: Record<string, string>;
  trigger: string;
  title: string;
  body: ReactNode;
  confirm: string;
  danger?: boolean;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [state, formAction, pending] = useActionState(async (prev: ActionResult, form: FormData) => {
    const result = await action(prev, form);
    if (result.ok) dialog.current?.close();
    return result;
  }, IDLE);
  return (
    <>
      <button type="button" className={danger ? 'secondary danger' : 'secondary'} onClick={() => dialog.current?.showModal()}>
        {trigger}
      </button>
      {state.message && !pending ? (
        <span role={state.ok ? 'status' : 'alert'} className={state.ok ? 'notice' : 'error'}>
          {state.message}
          {!state.ok && state.code ? <code className="muted"> ({state.code})</code> : null}
          {state.ok && state.link ? <> <Link href={state.link.href}>{state.link.label}</Link></> : null}
        </span>
      ) : null}
      <dialog ref={dialog} aria-labelledby={titleId} className="confirm">
        <form action={formAction}>
          <h2 id={titleId}>{title}</h2>
          <div>{body}</div>
          {Object.entries(fields).map(([name, value]) => (
            <input key={name} type="hidden" name={name} value={value} />
          ))}
          <div className="row-end">
            <button type="button" className="secondary" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" className={danger ? 'danger' : undefined} disabled={pending} autoFocus>
              {pending ? 'Working…' : confirm}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
