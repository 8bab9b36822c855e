import 'server-only';
import { revalidatePath } from 'next/cache';
import type { ActionResult } from '../../_components/action-result';
import { describeError } from '../../_components/describe-error';
import { FOREIGN_ACTION, isOwnOriginAction } from '../../_lib/same-origin-action';
import { getPortalCaller } from '../../_trpc/server';

type Session = NonNullable<Awaited<ReturnType<typeof getPortalCaller>>>;
/** What a mutation reports: its message, and a link to what it started, if anything. */
type Done = { message: string; link?: ActionResult['link'] };

/**
 * Runs one mutation as the signed-in user and reports it to the form. The server checks the
 * role again here whatever the page showed; a refusal comes back as its code and message.
 */
export async function runAction(work: (session: Session) => Promise<string | Done>): Promise<ActionResult> {
  if (!(await isOwnOriginAction())) return { ok: false, code: 'forbidden', message: FOREIGN_ACTION };
  const session = await getPortalCaller();
  if (!session) return { ok: false, code: 'unauthorized', message: 'Your session has ended. Sign in again.' };
  try {
    const done = await work(session);
    revalidatePath('/console', 'layout');
    return typeof done === 'string' ? { ok: true, message: done } : { ok: true, ...done };
  } catch (err) {
    const shown = describeError(err);
    return { ok: false, code: shown.code, message: `${shown.title}: ${shown.message}` };
  }
}

/** A form field as a string ('' when missing). */
export const field = (form: FormData, name: string) => String(form.get(name) ?? '').trim();

/** An optional whole-number field: '' means "no override" (null). */
export function optionalInt(form: FormData, name: string, scale = 1): number | null {
  const raw = field(form, name);
  if (raw === '') return null;
  const n = Number(raw);
  // Left for the server's schema to refuse with its own message (NaN is not an int).
  return Number.isFinite(n) ? Math.round(n * scale) : Number.NaN;
}
