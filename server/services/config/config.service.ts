import type { z } from 'zod';
import type { TConfigView, ZConfigChangeInput } from '../../contract/config';
import type { TCreateDeploymentResult, TDeployment } from '../../contract/outputs';
import { AppError, isAppError } from '../../errors';
import { getAppForActor } from '../apps/app-access';
import { noteAudit } from '../audit/note';
import type { ServiceCtx } from '../context';
import { startRollout, insertDeployment } from '../deployments/deployments.service';
import { findCurrentDeployment, findInFlightDeployment } from '../deployments/rollback-target';
import { toDeploymentDto } from '../dto';
import type { StoredConfigChanges } from '../../../db/schema';
import { applyConfigEdit, checkConfigEdit } from './config-rules';
import { currentConfigVersion, getConfigVersion } from './config-versions';
import { toConfigView } from './config-view';
import { commitConfig } from './release.service';

export interface ConfigChangeResult {
  config: TConfigView;
  deployment: TDeployment | null;
  changes: Pick<StoredConfigChanges, 'set' | 'unset' | 'settings'>;
}

/** The app's config as the next deploy will run it; secrets masked. */
export async function listConfig(ctx: ServiceCtx, appName: string): Promise<TConfigView> {
  const app = await getAppForActor(ctx, ctx.db, appName);
  return viewOf(ctx, app);
}

/**
 * Sets, seals and unsets variables in one new version; with `deploy` (the default) the app's
 * running artifact is redeployed with it, gated by health like any rollout. The whole edit is
 * checked first: a refused one changes nothing.
 */
export async function changeConfig(ctx: ServiceCtx, input: z.output<typeof ZConfigChangeInput>): Promise<ConfigChangeResult> {
  const edit = { set: input.set ?? {}, secrets: input.secrets ?? {}, unset: input.unset ?? [] };
  checkConfigEdit(edit);
  // Only names that passed the check: a refused "name" may be a value typed in the wrong place.
  noteAudit(ctx, { detail: { set: Object.keys(edit.set), secrets: Object.keys(edit.secrets), unset: edit.unset, deploy: input.deploy } });
  const committed = await ctx.db.transaction(async (tx) => {
    const app = await getAppForActor(ctx, tx, input.app_name, { forUpdate: true });
    const current = await currentConfigVersion(tx, app);
    const entries = applyConfigEdit(current.entries, edit, { appId: app.id, actor: ctx.actor.name, now: new Date(), secrets: ctx.secrets });
    const release = await commitConfig(ctx, tx, app, { entries, settings: current.settings }, { deploy: input.deploy, expectedVersion: input.expected_version });
    return { app, release };
  });
  return afterCommit(ctx, committed.app, committed.release);
}

/** Rolls out the staged config with the artifact that runs now. */
export async function deployConfig(ctx: ServiceCtx, appName: string): Promise<TCreateDeploymentResult> {
  const result = await ctx.db.transaction(async (tx) => {
    const app = await getAppForActor(ctx, tx, appName, { forUpdate: true });
    const running = await findCurrentDeployment(tx, app.id);
    if (!running) throw new AppError('conflict', `nothing runs for app "${app.name}": deploy an artifact, and it runs with the staged config`);
    const inFlight = await findInFlightDeployment(tx, app.id);
    if (inFlight?.configVersionId === app.configVersionId && inFlight.digest === running.digest) return { app, row: inFlight, created: false };
    if (inFlight) throw new AppError('conflict', `deployment ${inFlight.id} of app "${app.name}" is ${inFlight.status}; deploy the config once it settles`);
    if (running.configVersionId === app.configVersionId) throw new AppError('conflict', `app "${app.name}" already runs its current config; nothing is staged`);
    const row = await insertDeployment(ctx, tx, { appId: app.id, artifactId: running.artifactId, digest: running.digest, configVersionId: app.configVersionId as string });
    if (!row) throw new AppError('conflict', 'a deployment of this release started meanwhile; retry');
    return { app, row, created: true };
  });
  if (result.created) await startRollout(ctx, result.row);
  noteAudit(ctx, { detail: { deployment_id: result.row.id } });
  return { deployment: toDeploymentDto(result.row, result.app.name), created: result.created };
}

export async function afterCommit(
  ctx: ServiceCtx,
  app: { id: string; name: string; configVersionId: string | null },
  release: Awaited<ReturnType<typeof commitConfig>>,
): Promise<ConfigChangeResult> {
  if (release.deployment) await startRollout(ctx, release.deployment).catch((err: unknown) => {
    if (!isAppError(err) || err.code !== 'service_unavailable') throw err;
    // The version is written: "deploy again" would send the caller to set it again, which for
    // a plain value changes (and deploys) nothing. Say it is saved, and what rolls it out.
    const saved = `config v${release.version.version} of app "${app.name}" is saved but its rollout could not be queued (job queue unavailable)`;
    throw new AppError('service_unavailable', `${saved}: it is staged; run \`aether config deploy --app ${app.name}\` (config.deploy) once the queue is back`);
  });
  noteAudit(ctx, { detail: { version: release.version.version, deployment_id: release.deployment?.id ?? null } });
  return {
    config: await viewOf(ctx, { ...app, configVersionId: release.version.id }),
    deployment: release.deployment ? toDeploymentDto(release.deployment, app.name) : null,
    changes: { set: release.changes.set, unset: release.changes.unset, settings: release.changes.settings },
  };
}

async function viewOf(ctx: Pick<ServiceCtx, 'db'>, app: { id: string; name: string; configVersionId: string | null }): Promise<TConfigView> {
  const [current, running] = await Promise.all([currentConfigVersion(ctx.db, app), findCurrentDeployment(ctx.db, app.id)]);
  const runningVersion = running ? (running.configVersionId === current.id ? current : await getConfigVersion(ctx.db, running.configVersionId)) : null;
  return toConfigView(app.name, current, runningVersion);
}
