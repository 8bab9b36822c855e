import { and, eq, gt, inArray, ne, sql } from 'drizzle-orm';
import { applications, artifacts, deployments } from '../../../db/schema';
import { unavailableDependency } from '../../outage';
import { deploymentTopic } from '../../queues/notifier';
import { RolloutError, type RuntimeDeployment } from '../../runtime/port';
import { maxUnpackedBytesOf } from '../artifacts/quota';
import type { Services } from '../context';
import { getConfigVersion } from '../config/config-versions';
import { releaseEnv, releaseSettings, secretMasker } from '../config/release-runtime';
import type { Tx } from '../../../db/client';
import { addDeploymentEvent, getDeploymentWithApp, transitionDeployment, type DeploymentRow } from './deployments.repo';
import { findCurrentDeployment } from './rollback-target';
import { describeStatus, recordHealth } from '../apps/health.service';
import { maxInstancesOf } from '../apps/limits.service';

type RolloutServices = Pick<Services, 'db' | 'env' | 'runtime' | 'log' | 'metrics' | 'notifier' | 'secrets'>;

/**
 * What the driver runs: the artifact with its release's config (secrets opened), settings and
 * the app's scale; `mask` hides those secrets in the app's output quoted by a failure.
 * `startStopped`: a rollout of a stopped app (instances 0) runs it again with its last count.
 */
export async function releaseOf(
  svc: Pick<Services, 'db' | 'env' | 'secrets'>,
  d: DeploymentRow,
  appName: string,
  opts: { startStopped?: boolean } = {},
): Promise<{ target: RuntimeDeployment; mask: (text: string) => string }> {
  const { id: deploymentId, artifactId, digest } = d;
  const [artifact] = await svc.db
    .select({
      storageKey: artifacts.storageKey,
      appMaxUnpackedBytes: applications.maxUnpackedBytes,
      instances: applications.instances,
      lastInstances: applications.lastInstances,
      maxInstances: applications.maxInstances,
    })
    .from(artifacts)
    .innerJoin(applications, eq(applications.id, artifacts.appId))
    .where(eq(artifacts.id, artifactId))
    .limit(1);
  if (!artifact) throw new Error(`artifact ${artifactId} of deployment ${deploymentId} is gone`);
  const maxUnpackedBytes = maxUnpackedBytesOf({ maxUnpackedBytes: artifact.appMaxUnpackedBytes }, svc.env);
  // Never past today's max_instances: the limit may have been lowered while the app was stopped.
  const instances = artifact.instances === 0 && opts.startStopped ? Math.min(artifact.lastInstances, maxInstancesOf(artifact, svc.env)) : artifact.instances;
  const config = await getConfigVersion(svc.db, d.configVersionId);
  const env = releaseEnv(svc.secrets, config);
  const settings = releaseSettings(svc.env, config.settings);
  const target = { deploymentId, appName, digest, storageKey: artifact.storageKey, maxUnpackedBytes, configVersionId: config.id, env, settings, instances };
  return { target, mask: secretMasker(config, env) };
}

/**
 * Runs one deployment: pending -> rolling_out -> running | failed. The runtime driver reports
 * each phase, recorded as an event with its duration. On success the app's previous running
 * deployment becomes `superseded`; on failure the previous one keeps serving.
 */
export async function runRollout(svc: RolloutServices, deploymentId: string): Promise<void> {
  const { deployment, appName } = await getDeploymentWithApp(svc.db, deploymentId);
  if (await wasOvertaken(svc, deployment)) return;
  // From rolling_out too: a job re-run after its worker died mid-rollout resumes the deployment
  // (the driver re-adopts an instance that already came up) instead of leaving it stuck.
  const started = await transitionDeployment(svc.db, deploymentId, ['pending', 'rolling_out'], 'rolling_out', { rolloutStartedAt: new Date() }, {
    phase: 'rolling_out',
    message: `${deployment.status === 'rolling_out' ? 'resuming' : 'rolling out'} ${deployment.digest.slice(0, 12)}`,
    // How long it waited for a worker since it was created.
    durationMs: Math.max(0, Date.now() - deployment.createdAt.getTime()),
  });
  if (!started) {
    svc.log.warn('rollout skipped: deployment already settled', { deploymentId, status: deployment.status });
    return;
  }
  // Every change wakes whoever long-polls this deployment (the CLI following a deploy). A lost
  // wake-up only delays a poller until its timeout: it must not fail the rollout.
  const changed = () =>
    svc.notifier.publish(deploymentTopic(deploymentId)).catch((err: unknown) => svc.log.warn('could not publish a deployment change', { deploymentId, error: String(err) }));
  await changed();
  const t0 = Date.now();
  // Phase events are written in order but off the rollout's path: a write and a publish per
  // phase cost more than some phases. All are in before the outcome is written.
  let recorded: Promise<void> = Promise.resolve();
  let mask = (text: string) => text;
  try {
    // Inside the try: a release whose secrets cannot be opened (a lost key) fails, not hangs.
    const release = await releaseOf(svc, deployment, appName, { startStopped: true });
    const target = release.target;
    mask = release.mask;
    const { url } = await svc.runtime.rollout(target, async (p) => {
      const event = { phase: p.phase, message: p.message, durationMs: Math.round(p.durationMs) };
      // A lost phase event must not fail a rollout: the outcome's transition is the record.
      recorded = recorded
        .then(() => addDeploymentEvent(svc.db, deploymentId, event))
        .then(changed)
        .catch((err: unknown) => svc.log.warn('could not record a rollout phase', { deploymentId, phase: p.phase, error: String(err) }));
    });
    await recorded;
    await svc.db.transaction(async (tx) => {
      await transitionDeployment(tx, deploymentId, ['rolling_out'], 'running', { url, rolloutCompletedAt: new Date() }, {
        phase: 'running',
        message: `answering at ${url}`,
        durationMs: Date.now() - t0,
      });
      await markReleaseRunning(tx, deployment.appId, target.instances ?? 1);
      const replaced = await tx
        .select({ id: deployments.id })
        .from(deployments)
        .where(and(eq(deployments.appId, deployment.appId), eq(deployments.status, 'running'), ne(deployments.id, deploymentId)));
      // A rollback's predecessor was judged bad: it is `rolled_back`, and never a rollback target.
      const [to, message] = deployment.rollbackOf
        ? (['rolled_back', `rolled back to ${deployment.rollbackOf} by ${deploymentId}`] as const)
        : (['superseded', `replaced by ${deploymentId}`] as const);
      for (const old of replaced) await transitionDeployment(tx, old.id, ['running'], to, {}, { phase: to, message });
      if (replaced.length > 0) svc.metrics.deploymentStatus.inc({ status: to }, replaced.length);
    });
    await changed();
    svc.metrics.rollouts.inc({ outcome: 'running' });
    svc.metrics.deploymentStatus.inc({ status: 'running' });
    svc.metrics.deploymentTimeToRunning.observe((Date.now() - deployment.createdAt.getTime()) / 1000);
    await refreshRunningGauge(svc);
    await recordHealthAfterSwitch(svc, { deploymentId, appName });
  } catch (err) {
    // The control plane could not read or record it (the database or the queue is down): that
    // is no outcome of the deployment. The job fails and is retried, and the retry resumes it
    // from rolling_out (the driver re-adopts what already came up).
    const dependency = err instanceof RolloutError ? null : unavailableDependency(err);
    if (dependency === 'database' || dependency === 'job queue') {
      await recorded;
      svc.log.warn('rollout interrupted by an outage; its job retries', { deploymentId, dependency });
      throw err;
    }
    const reason = err instanceof RolloutError ? err.reason : 'internal';
    const tail = err instanceof RolloutError && err.outputTail.length ? `\n--- last output ---\n${err.outputTail.join('\n')}` : '';
    const message = mask(err instanceof Error ? err.message : String(err));
    svc.log.warn('rollout failed', { deploymentId, reason, message });
    await recorded; // the phases that did happen come before the failure
    await svc.db.transaction(async (tx) => {
      const failed = await transitionDeployment(tx, deploymentId, ['rolling_out'], 'failed', { failureReason: reason, rolloutCompletedAt: new Date() }, {
        phase: 'failed',
        message: `${reason}: ${message}${mask(tail)}`,
        durationMs: Date.now() - t0,
      });
      if (failed?.rollbackOf) await keepConfigOfWhatRuns(tx, failed);
    });
    await changed();
    svc.metrics.rollouts.inc({ outcome: 'failed' });
    svc.metrics.deploymentStatus.inc({ status: 'failed' });
  } finally {
    svc.metrics.rolloutDuration.observe((Date.now() - t0) / 1000);
  }
}

/**
 * A rollout run late (its job retried, re-run or re-queued by the maintenance sweep after an
 * outage, resumed after its worker died, or simply queued after a later deploy's) must not
 * replace a release deployed since: a newer deployment that went out (running, or replaced
 * since) makes this one `failed` (`overtaken`), and the runtime is left alone. Whether it was.
 */
async function wasOvertaken(svc: RolloutServices, d: DeploymentRow): Promise<boolean> {
  const [newer] = await svc.db
    .select({ id: deployments.id })
    .from(deployments)
    .where(
      and(
        eq(deployments.appId, d.appId),
        // Against the row's own timestamp: a JS Date would drop its microseconds.
        gt(deployments.createdAt, sql`(select created_at from deployments where id = ${d.id})`),
        inArray(deployments.status, ['running', 'superseded', 'rolled_back']),
      ),
    )
    .limit(1);
  if (!newer) return false;
  const failed = await transitionDeployment(svc.db, d.id, ['pending', 'rolling_out'], 'failed', { failureReason: 'overtaken', rolloutCompletedAt: new Date() }, {
    phase: 'failed',
    message: `overtaken: deployment ${newer.id}, created later, went out while this rollout waited; not rolled out over it`,
  });
  if (failed) {
    await svc.notifier.publish(deploymentTopic(d.id)).catch(() => undefined);
    svc.metrics.deploymentStatus.inc({ status: 'failed' });
  }
  return true;
}

/** `deployments_running_total` from the database: it counts what every process rolled out. */
async function refreshRunningGauge(svc: Pick<RolloutServices, 'db' | 'metrics' | 'log'>): Promise<void> {
  try {
    const [row] = await svc.db.select({ n: sql<number>`count(*)::int` }).from(deployments).where(eq(deployments.status, 'running'));
    svc.metrics.deploymentsRunning.set(row?.n ?? 0);
  } catch (err) {
    svc.log.warn('could not count running deployments', { error: String(err) });
  }
}

/**
 * A release that rolled out runs `instances` healthy instances: a stopped app deployed again is
 * started (its scale back to the count it ran), and its health is that of the new release.
 */
async function markReleaseRunning(tx: Tx, appId: string, instances: number): Promise<void> {
  const health = instances === 0 ? ('stopped' as const) : ('healthy' as const);
  const message = instances === 0 ? 'stopped (0 instances)' : `${instances} instance${instances === 1 ? '' : 's'} healthy after the rollout`;
  await tx
    .update(applications)
    .set({ instances, health, healthMessage: message, healthChangedAt: new Date(), updatedAt: new Date() })
    .where(eq(applications.id, appId));
}

/**
 * The release became current only now: what its supervisor reported meanwhile (an instance
 * that died while the old release drained) was about a deployment not yet running, and was
 * ignored. Ask the runtime once, so `healthy` is never merely assumed.
 */
async function recordHealthAfterSwitch(svc: RolloutServices, target: { deploymentId: string; appName: string }): Promise<void> {
  try {
    const status = await svc.runtime.status(target);
    if (status.health !== 'healthy') await recordHealth(svc, { ...target, health: status.health, message: describeStatus(status) });
  } catch (err) {
    svc.log.warn('could not read the health of a new release', { ...target, error: String(err) });
  }
}

/**
 * A rollback points the app's config at its target's when it starts; when it fails, the
 * release that keeps serving decides again, so the next deploy does not quietly run the
 * config that was rolled back to (perhaps with a secret replaced since). Only while nothing
 * else moved the pointer meanwhile.
 */
async function keepConfigOfWhatRuns(tx: Tx, rollback: DeploymentRow): Promise<void> {
  const running = await findCurrentDeployment(tx, rollback.appId);
  if (!running) return;
  await tx
    .update(applications)
    .set({ configVersionId: running.configVersionId, updatedAt: new Date() })
    .where(and(eq(applications.id, rollback.appId), eq(applications.configVersionId, rollback.configVersionId)));
}

/**
 * After a control-plane restart: everything the database says is running is made to run
 * again (re-adopted when still alive). What cannot be brought back is marked failed, so the
 * status never claims an app answers when it does not.
 */
export async function restoreRunningDeployments(svc: RolloutServices): Promise<void> {
  const rows = await svc.db.select().from(deployments).where(eq(deployments.status, 'running'));
  if (rows.length === 0) return;
  const desired: RuntimeDeployment[] = [];
  const unrunnable: Array<{ deploymentId: string; url: null; error: string }> = [];
  for (const d of rows) {
    const { appName } = await getDeploymentWithApp(svc.db, d.id);
    // One release that cannot be built (its secrets' key is gone) must not keep the others down.
    await releaseOf(svc, d, appName).then(
      (r) => desired.push(r.target),
      (err: unknown) => unrunnable.push({ deploymentId: d.id, url: null, error: err instanceof Error ? err.message : String(err) }),
    );
  }
  const outcomes = [...(await svc.runtime.restore(desired)), ...unrunnable];
  for (const o of outcomes) {
    if (o.error) {
      await svc.db.transaction((tx) =>
        transitionDeployment(tx, o.deploymentId, ['running'], 'failed', { failureReason: 'restore_failed' }, { phase: 'failed', message: `restore after restart failed: ${o.error}` }),
      );
    } else if (o.url) {
      await svc.db.update(deployments).set({ url: o.url }).where(eq(deployments.id, o.deploymentId));
    }
  }
  svc.log.info('runtime restored', { total: outcomes.length, failed: outcomes.filter((o) => o.error).length });
}
