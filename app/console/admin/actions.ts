'use server';
import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import type { ActionResult } from '../../_components/action-result';
import { describeError } from '../../_components/describe-error';
import type { TQueueName } from '../../../server/services/admin/admin.schemas';
import { FOREIGN_ACTION, isOwnOriginAction } from '../../_lib/same-origin-action';
import { field, runAction } from '../_lib/run-action';
import { getPortalCaller } from '../../_trpc/server';

/**
 * The admin pages' mutations. Each runs as the signed-in user through the same procedures
 * the API serves, so the server checks the admin role and validates the input (a hand-made
 * form post with another queue or state gets the procedure's own error back).
 */

const queueOf = (form: FormData) => field(form, 'queue') as TQueueName;
const jobRef = (form: FormData) => ({ queue: queueOf(form), job_id: field(form, 'job_id') });

export async function retryJobAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const { state } = await caller.admin.queues.retry(jobRef(form));
    return `Job ${field(form, 'job_id')} is ${state === 'waiting' ? 'queued' : state} again.`;
  });
}

export async function removeJobAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const result = await runAction(async ({ caller }) => {
    await caller.admin.queues.remove(jobRef(form));
    return `Job ${field(form, 'job_id')} removed.`;
  });
  // From the job's own page, go back to its queue: the job is gone.
  if (result.ok && field(form, 'then') === 'queue') redirect(`/console/admin/queues/${encodeURIComponent(queueOf(form))}?state=${encodeURIComponent(field(form, 'state') || 'failed')}`);
  return result;
}

export async function retryAllFailedAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const { retried } = await caller.admin.queues.retryAllFailed({ queue: queueOf(form) });
    return retried === 0 ? 'No failed jobs to retry.' : `${retried} failed job${retried === 1 ? '' : 's'} queued again.`;
  });
}

export async function cleanQueueAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const state = field(form, 'state') as 'completed';
    const hours = Number(field(form, 'older_than_hours') || '0');
    const { removed } = await caller.admin.queues.clean({ queue: queueOf(form), state, older_than_secs: Math.round(hours * 3600) });
    return `Removed ${removed} ${state} job${removed === 1 ? '' : 's'}.`;
  });
}

export async function setPausedAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const queue = queueOf(form);
    const { paused } = field(form, 'paused') === 'true' ? await caller.admin.queues.pause({ queue }) : await caller.admin.queues.resume({ queue });
    return paused ? `${queue} is paused: workers take no new jobs.` : `${queue} is running again.`;
  });
}

export interface CreateTokenResult extends ActionResult {
  /** The plaintext, returned to this one response only. */
  token?: string;
  name?: string;
}

export async function createTokenAction(_prev: CreateTokenResult, form: FormData): Promise<CreateTokenResult> {
  if (!(await isOwnOriginAction())) return { ok: false, code: 'forbidden', message: FOREIGN_ACTION };
  const session = await getPortalCaller();
  if (!session) return { ok: false, code: 'unauthorized', message: 'Your session has ended. Sign in again.' };
  const days = field(form, 'expires_in_days');
  // Ticked teams; none ticked: every team (the procedure refuses teams on an admin token).
  const teams = form.getAll('teams').map(String).filter(Boolean);
  try {
    const created = await session.caller.admin.tokens.create({
      name: field(form, 'name'),
      role: field(form, 'role') as 'reader',
      expires_in_days: days === '' ? undefined : Number(days),
      teams: teams.length > 0 ? teams : undefined,
    });
    // The list refreshes; the form keeps the secret in its own state until it is dismissed.
    revalidatePath('/console/admin/tokens');
    const scope = created.teams ? `, teams ${created.teams.join(', ')}` : '';
    const message = `Token “${created.name}” (${created.role}${scope}) created.`;
    return { ok: true, message, token: created.token, name: created.name };
  } catch (err) {
    const shown = describeError(err);
    return { ok: false, code: shown.code, message: `${shown.title}: ${shown.message}` };
  }
}

export async function revokeTokenAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    await caller.admin.tokens.revoke({ id: field(form, 'id') });
    return `Token “${field(form, 'name')}” revoked: it stops working now.`;
  });
}
