'use server';
import type { ActionResult } from '../_components/action-result';
import { shortId } from '../_components/format';
import { field, optionalInt, runAction } from './_lib/run-action';

interface Release {
  deployment: { id: string; app_name: string } | null;
}

/** The form's "Deploy now" / "Stage for later" choice; deploying is the default. */
const deploys = (form: FormData) => field(form, 'mode') !== 'stage';

/** The version the form was rendered at, so a change made meanwhile by someone else is refused, not overwritten. */
function expectedVersion(form: FormData): number | undefined {
  const n = Number(field(form, 'expected_version'));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** What a saved change did: rolled out (with a link to follow it), staged, or waits for a first deploy. */
function outcome(what: string, version: number | null, deploy: boolean, release: Release) {
  const v = version === null ? '' : ` (config v${version})`;
  if (release.deployment) {
    const { id, app_name } = release.deployment;
    return {
      message: `${what}${v}: deployment ${shortId(id)} is rolling it out.`,
      link: { href: `/console/apps/${encodeURIComponent(app_name)}#dep-${id}`, label: 'Follow the deployment' },
    };
  }
  if (!deploy) return `${what}${v}, staged: it runs once you deploy the staged config.`;
  return `${what}${v}. Nothing runs yet: the next deploy runs with it.`;
}

export async function setConfigVarAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const name = field(form, 'name');
  // Untrimmed: spaces can be part of a value. Never echoed back, in success or in error.
  const value = String(form.get('value') ?? '');
  const secret = form.get('secret') === 'on';
  const deploy = deploys(form);
  return runAction(async ({ caller }) => {
    const res = await caller.config.change({
      app_name: field(form, 'app_name'),
      ...(secret ? { secrets: { [name]: value } } : { set: { [name]: value } }),
      deploy,
      expected_version: expectedVersion(form),
    });
    if (res.changes.set.length === 0) return `${name} already has that value: nothing changed.`;
    return outcome(`${secret ? 'Secret' : 'Variable'} ${name} set`, res.config.version, deploy, res);
  });
}

export async function unsetConfigVarAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const name = field(form, 'name');
  const deploy = deploys(form);
  return runAction(async ({ caller }) => {
    const res = await caller.config.change({ app_name: field(form, 'app_name'), unset: [name], deploy, expected_version: expectedVersion(form) });
    if (res.changes.unset.length === 0) return `${name} was not set: nothing changed.`;
    return outcome(`${name} deleted`, res.config.version, deploy, res);
  });
}

export async function deployStagedConfigAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  return runAction(async ({ caller }) => {
    const res = await caller.config.deploy({ app_name: field(form, 'app_name') });
    return outcome(res.created ? 'Deploying the staged config' : 'The staged config is already deploying', null, true, res);
  });
}

/** Start command, health-check path and timeout; an empty field restores the platform default. */
export async function updateSettingsAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const deploy = deploys(form);
  const text = (name: string) => field(form, name) || null;
  const appName = field(form, 'app_name');
  return runAction(async ({ caller }) => {
    const before = await caller.config.list({ app_name: appName });
    const res = await caller.apps.update({
      app_name: appName,
      start_command: text('start_command'),
      health_path: text('health_path'),
      health_timeout_secs: optionalInt(form, 'health_timeout_secs'),
      deploy,
    });
    if (res.deployment) return outcome('Settings saved', null, deploy, res);
    // Without a deployment, only the version tells "saved" from "the same settings again".
    const after = await caller.config.list({ app_name: appName });
    if (after.version === before.version) return 'These are the settings already: nothing changed.';
    return outcome('Settings saved', after.version, deploy, res);
  });
}

export async function moveAppTeamAction(_prev: ActionResult, form: FormData): Promise<ActionResult> {
  const team = field(form, 'team');
  return runAction(async ({ caller }) => {
    const { app } = await caller.apps.update({ app_name: field(form, 'app_name'), team, deploy: false });
    return `${app.name} now belongs to team ${app.team}.`;
  });
}
