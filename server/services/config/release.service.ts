import type { Tx } from '../../../db/client';
import type { StoredAppSettings } from '../../../db/schema';
import { AppError } from '../../errors';
import type { AppRow } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { insertDeployment } from '../deployments/deployments.service';
import type { DeploymentRow } from '../deployments/deployments.repo';
import { findCurrentDeployment, findInFlightDeployment } from '../deployments/rollback-target';
import { diffConfig, isEmptyChange, type ConfigEntries } from './config-diff';
import { appendConfigVersion, currentConfigVersion, type ConfigVersionRow } from './config-versions';

export interface CommittedRelease {
  version: ConfigVersionRow;
  changes: ReturnType<typeof diffConfig>;
  /** The deployment that rolls the change out; undefined when staged or when nothing runs yet. */
  deployment: DeploymentRow | undefined;
}

/**
 * Records a new config version of `app` (its row locked by the caller, inside `tx`) and, with
 * `deploy`, a deployment of what runs now with it: one transaction, so a refused deploy leaves
 * no version behind. A change that changes nothing makes neither.
 */
export async function commitConfig(
  ctx: ServiceCtx,
  tx: Tx,
  app: AppRow,
  next: { entries: ConfigEntries; settings: StoredAppSettings },
  opts: { deploy: boolean; expectedVersion?: number },
): Promise<CommittedRelease> {
  const current = await currentConfigVersion(tx, app);
  if (opts.expectedVersion !== undefined && opts.expectedVersion !== current.version) {
    throw new AppError('conflict', `the config of app "${app.name}" is at version ${current.version}, not ${opts.expectedVersion}: someone changed it meanwhile; reload and try again`);
  }
  const changes = diffConfig(current, next);
  if (isEmptyChange(changes)) return { version: current, changes, deployment: undefined };
  const running = opts.deploy ? await runningToRedeploy(tx, app) : undefined;
  const version = await appendConfigVersion(tx, app.id, { ...next, changes, createdBy: ctx.actor.name });
  const deployment = running
    ? await insertDeployment(ctx, tx, { appId: app.id, artifactId: running.artifactId, digest: running.digest, configVersionId: version.id })
    : undefined;
  return { version, changes, deployment };
}

/**
 * What a config change redeploys: the running deployment's artifact. A deployment in flight
 * would race the change, so the change is refused (nothing is written) until it settles.
 */
async function runningToRedeploy(tx: Tx, app: AppRow): Promise<DeploymentRow | undefined> {
  const inFlight = await findInFlightDeployment(tx, app.id);
  if (inFlight) {
    throw new AppError('conflict', `deployment ${inFlight.id} of app "${app.name}" is ${inFlight.status}; change the config once it settles, or stage the change without deploying`);
  }
  return findCurrentDeployment(tx, app.id);
}
