import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, artifacts, deployments } from '../../db/schema';
import { enqueueRollout } from '../../server/queues/producers';
import type { TQueueName } from '../../server/services/admin/admin.schemas';
import { startTestPlane, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { trpcCodeOf } from '../support/trpc-code';
import { configVersionOf } from '../support/config-version';

// One control plane (PGlite, own Redis prefix, real workers) for the file: starting one is the slow part.
let plane: TestPlane;
beforeAll(async () => {
  plane = await startTestPlane('pglite');
  plane.startWorkers();
});
afterAll(async () => plane?.close());

describe('admin procedures: who may call them', () => {
  it('refuses readers and deployers (FORBIDDEN) and anonymous callers (UNAUTHORIZED) on every admin procedure', async () => {
    const queue = 'rollout' as const;
    const calls: Record<string, (c: ReturnType<TestPlane['caller']>) => Promise<unknown>> = {
      'queues.list': (c) => c.admin.queues.list(),
      'queues.jobs': (c) => c.admin.queues.jobs({ queue, state: 'failed' }),
      'queues.job': (c) => c.admin.queues.job({ queue, job_id: 'x' }),
      'queues.retry': (c) => c.admin.queues.retry({ queue, job_id: 'x' }),
      'queues.retryAllFailed': (c) => c.admin.queues.retryAllFailed({ queue }),
      'queues.remove': (c) => c.admin.queues.remove({ queue, job_id: 'x' }),
      'queues.clean': (c) => c.admin.queues.clean({ queue, state: 'completed' }),
      'queues.pause': (c) => c.admin.queues.pause({ queue }),
      'queues.resume': (c) => c.admin.queues.resume({ queue }),
      'metrics.dashboard': (c) => c.admin.metrics.dashboard({ range: '24h' }),
      'tokens.list': (c) => c.admin.tokens.list(),
      'tokens.create': (c) => c.admin.tokens.create({ name: 'x', role: 'admin' }),
      'tokens.revoke': (c) => c.admin.tokens.revoke({ id: randomUUID() }),
    };
    // Every procedure of the admin router is in the list: a new one must be added here too.
    const { adminRouter } = await import('../../server/trpc/routers/admin.router');
    const defined = Object.keys(adminRouter._def.procedures).sort();
    expect(defined).toEqual(Object.keys(calls).sort());

    for (const [name, call] of Object.entries(calls)) {
      expect(await trpcCodeOf(() => call(plane.caller('reader'))), `${name} as reader`).toBe('FORBIDDEN');
      expect(await trpcCodeOf(() => call(plane.caller('deployer'))), `${name} as deployer`).toBe('FORBIDDEN');
      expect(await trpcCodeOf(() => call(plane.caller(null))), `${name} anonymous`).toBe('UNAUTHORIZED');
    }
    // The refusals changed nothing: the queue is not paused, no token was created.
    const [rollout] = (await plane.caller('admin').admin.queues.list()).filter((q) => q.name === queue);
    expect(rollout?.paused).toBe(false);
    expect((await plane.caller('admin').admin.tokens.list()).filter((t) => t.source === 'database')).toEqual([]);
  });

  it('is refused over HTTP too, with the error code in the body', async () => {
    const res = await fetch(`${plane.url}/api/trpc/admin.queues.pause`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-deployer-token-0001', 'content-type': 'application/json' },
      body: JSON.stringify({ queue: 'rollout' }),
    });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: { data: { code: string }; message: string } };
    expect(body.error.data.code).toBe('forbidden');
    expect(body.error.message).toContain('admin');
  });
});

describe('admin queues on a real Redis with real workers', () => {
  const admin = () => plane.caller('admin').admin.queues;
  const queue: TQueueName = 'rollout';
  const counts = async () => (await admin().list()).find((q) => q.name === queue)!.counts;

  it('shows a rollout job that failed for real, with its error and stack; retry moves it, remove deletes it', async () => {
    // A rollout for a deployment that does not exist: the real processor fails it (not found).
    const missing = randomUUID();
    await enqueueRollout(plane.services.queues, { deploymentId: missing });
    const jobId = `rollout-${missing}`;
    const before = await pollUntil(counts, (c) => c.failed === 1, 15_000);
    expect(before.failed).toBe(1);

    const page = await admin().jobs({ queue, state: 'failed' });
    expect(page.total).toBe(1);
    expect(page.jobs[0]).toMatchObject({ id: jobId, state: 'failed', attempts_made: 1, attempts_max: 6, subject: { kind: 'deployment', id: missing, app_name: null } });
    expect(page.jobs[0]!.failed_reason).toContain(`deployment ${missing} not found`);

    const detail = await admin().job({ queue, job_id: jobId });
    expect(detail.data).toEqual({ deploymentId: missing });
    expect(detail.failed_reason_full).toContain('not found');
    expect(detail.stacktrace.join('\n')).toContain('getDeploymentWithApp');

    // Paused, the retried job waits instead of failing again at once: the counts show the move.
    expect(await admin().pause({ queue })).toEqual({ paused: true });
    expect(await admin().retry({ queue, job_id: jobId })).toEqual({ state: 'waiting' });
    expect(await counts()).toMatchObject({ failed: 0, waiting: 1 });
    expect((await admin().list()).find((q) => q.name === queue)?.paused).toBe(true);
    // Retrying a job that is not failed is a conflict, not a crash.
    expect(await trpcCodeOf(() => admin().retry({ queue, job_id: jobId }))).toBe('CONFLICT');

    expect(await admin().resume({ queue })).toEqual({ paused: false });
    const after = await pollUntil(counts, (c) => c.failed === 1, 15_000);
    expect(after).toMatchObject({ failed: 1, waiting: 0 });
    expect((await admin().job({ queue, job_id: jobId })).attempts_made).toBeGreaterThanOrEqual(1);

    expect(await admin().remove({ queue, job_id: jobId })).toEqual({ removed: true });
    expect(await counts()).toMatchObject({ failed: 0 });
    expect(await trpcCodeOf(() => admin().job({ queue, job_id: jobId }))).toBe('NOT_FOUND');

    // The workers record per-minute metrics (jobs/start.ts): the dashboard counts these failures.
    const dash = await plane.caller('admin').admin.metrics.dashboard({ range: '6h' });
    expect(dash.queues.find((q) => q.name === queue)!.failed).toBeGreaterThanOrEqual(2);
  });

  it('retries all failed jobs at once, and clean empties a state', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await enqueueRollout(plane.services.queues, { deploymentId: id });
    await pollUntil(counts, (c) => c.failed === 3, 15_000);

    await admin().pause({ queue });
    expect(await admin().retryAllFailed({ queue })).toEqual({ retried: 3 });
    expect(await counts()).toMatchObject({ failed: 0, waiting: 3 });

    // Queued rollouts are what move their deployments on: cleaning them away is refused.
    expect(await trpcCodeOf(() => admin().clean({ queue, state: 'waiting', older_than_secs: 0 }))).toBe('CONFLICT');
    expect(await trpcCodeOf(() => admin().remove({ queue, job_id: `rollout-${ids[0]}` }))).toBe('CONFLICT');
    expect(await counts()).toMatchObject({ failed: 0, waiting: 3 });
    await admin().resume({ queue });
    await pollUntil(counts, (c) => c.failed === 3, 15_000);

    // Clean with a grace period spares young jobs; without one it takes them all.
    expect(await admin().clean({ queue, state: 'failed', older_than_secs: 3600 })).toEqual({ removed: 0 });
    expect(await admin().clean({ queue, state: 'failed', older_than_secs: 0 })).toEqual({ removed: 3 });
    expect(await counts()).toMatchObject({ waiting: 0, failed: 0 });
  });

  it('finds jobs by app name or deployment id, and redacts secrets in job data', async () => {
    // A real app, artifact and deployment, so the job's subject resolves to an app name.
    const db = plane.services.db;
    const [app] = await db.insert(applications).values({ name: `searchme-${randomUUID().slice(0, 6)}`, owner: 'test' }).returning();
    const digest = 'a'.repeat(64);
    const [art] = await db.insert(artifacts).values({ appId: app!.id, digest, sizeBytes: 10, status: 'stored', storageKey: `k/${digest}` }).returning();
    const [dep] = await db.insert(deployments).values({ appId: app!.id, configVersionId: await configVersionOf(db, app!.id), artifactId: art!.id, digest, status: 'running', createdBy: 'test' }).returning();

    await admin().pause({ queue });
    await enqueueRollout(plane.services.queues, { deploymentId: dep!.id });
    // An old or foreign producer may put anything in a payload: the portal must not show it.
    const leaky = {
      deploymentId: randomUUID(),
      apiToken: 'aet_supersecretvalue123456',
      nested: { password: 'hunter2hunter2', list: [{ clientSecret: 's3cr3t-value' }] },
      url: 'https://bucket.s3.example.com/artifacts/x.tgz?X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE',
      note: 'sent Authorization: Bearer abcdefghijklmnop to storage',
    };
    await plane.services.queues.rollout.add('deployment.rollout', leaky, { jobId: 'leaky-job' });

    const byApp = await admin().jobs({ queue, state: 'waiting', search: app!.name.toUpperCase() });
    expect(byApp.jobs.map((j) => j.id)).toEqual([`rollout-${dep!.id}`]);
    expect(byApp.jobs[0]!.subject).toEqual({ kind: 'deployment', id: dep!.id, app_name: app!.name });
    expect(byApp.scanned).toBe(2);
    const byId = await admin().jobs({ queue, state: 'waiting', search: dep!.id.slice(0, 13) });
    expect(byId.jobs).toHaveLength(1);
    expect((await admin().jobs({ queue, state: 'waiting', search: 'nothing-like-this' })).jobs).toEqual([]);

    const detail = await admin().job({ queue, job_id: 'leaky-job' });
    const shown = JSON.stringify(detail);
    for (const secret of ['aet_supersecretvalue', 'hunter2', 's3cr3t-value', 'deadbeefcafe', 'AKIAIOSFODNN7EXAMPLE', 'abcdefghijklmnop']) {
      expect(shown).not.toContain(secret);
    }
    expect(detail.data).toMatchObject({
      deploymentId: leaky.deploymentId,
      apiToken: '[redacted]',
      nested: { password: '[redacted]', list: [{ clientSecret: '[redacted]' }] },
      url: 'https://bucket.s3.example.com/artifacts/x.tgz?[redacted]',
    });
    // Test clean-up only: the admin API refuses to drop queued rollouts.
    await plane.services.queues.rollout.drain();
    await admin().resume({ queue });
  });

  it('says what is wrong with bad input: unknown queue, unknown job, active state for clean', async () => {
    expect(await trpcCodeOf(() => admin().jobs({ queue: 'nope' as TQueueName, state: 'failed' }))).toBe('BAD_REQUEST');
    expect(await trpcCodeOf(() => admin().retry({ queue, job_id: 'no-such-job' }))).toBe('NOT_FOUND');
    expect(await trpcCodeOf(() => admin().clean({ queue, state: 'active' as 'failed' }))).toBe('BAD_REQUEST');
  });
});
