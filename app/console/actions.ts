'use server';
import { redirect } from 'next/navigation';
import type { ActionResult } from '../_components/action-result';
import { shortId } from '../_components/format';
import { field, optionalInt, runAction } from './_lib/run-action';

const MIB = 1024 * 1024;

export async function createAppAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const name = field(form, 'name');
  const team = field(form, 'team');
  const result = await runAction(async ({ caller }) => {
    await caller.apps.create({ name, ...(team ? { team } : {}) });
    return `Created ${name}.`;
  });
  // Outside runAction: redirect works by throwing, which must not be caught as a failure.
  if (result.ok) redirect(`/console/apps/${encodeURIComponent(name)}`);
  return result;
}

export async function addKeyAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const key = await caller.keys.add({ app_name: field(form, 'app_name'), public_key_hex: field(form, 'public_key_hex').toLowerCase() });
    return `Key ${key.fingerprint} is active.`;
  });
}

export async function deactivateKeyAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const key = await caller.keys.deactivate({ app_name: field(form, 'app_name'), key_id: field(form, 'key_id') });
    return `Key ${key.fingerprint} no longer verifies new artifacts.`;
  });
}

export async function setLimitsAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    await caller.apps.setLimits({
      app_name: field(form, 'app_name'),
      max_artifacts: optionalInt(form, 'max_artifacts'),
      max_total_bytes: optionalInt(form, 'max_total_mib', MIB),
      retain_latest: optionalInt(form, 'retain_latest'),
    });
    return 'Limits saved.';
  });
}

export async function rollbackAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const to = field(form, 'to');
  return runAction(async ({ caller }) => {
    const { deployment } = await caller.deployments.rollback({ app_name: field(form, 'app_name'), ...(to ? { to } : {}) });
    return `Rolling back: deployment ${shortId(deployment.id)} is ${deployment.status === 'pending' ? 'queued' : deployment.status.replace('_', ' ')}.`;
  });
}
