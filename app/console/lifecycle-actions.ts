'use server';
import type { ActionResult } from '../_components/action-result';
import { field, runAction } from './_lib/run-action';

/** "3 instances": the count the control plane accepted, as the page says it. */
const instances = (n: number) => `${n} instance${n === 1 ? '' : 's'}`;

export async function scaleAppAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const raw = field(form, 'instances');
  return runAction(async ({ caller }) => {
    // '' or a fraction reaches the server as NaN / non-integer and comes back as its bad_request.
    const app = await caller.apps.scale({ app_name: field(form, 'app_name'), instances: raw === '' ? Number.NaN : Number(raw) });
    return app.instances === 0 ? `Stopping ${app.name}.` : `Scaling ${app.name} to ${instances(app.instances)}; health follows once the instances answer.`;
  });
}

export async function stopAppAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const app = await caller.apps.stop({ app_name: field(form, 'app_name') });
    return `Stopping ${app.name}. Start brings it back.`;
  });
}

export async function startAppAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const app = await caller.apps.start({ app_name: field(form, 'app_name') });
    return `Starting ${app.name} with ${instances(app.instances)}.`;
  });
}

export async function restartAppAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const app = await caller.apps.restart({ app_name: field(form, 'app_name') });
    return `Restarting ${app.name}: its ${instances(app.instances)} are replaced one at a time.`;
  });
}
