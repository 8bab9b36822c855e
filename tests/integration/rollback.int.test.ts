import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TRPCError } from '@trpc/server';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifacts, deployments, type DeploymentStatus } from '../../db/schema';
import type { TDeployment } from '../../server/contract/outputs';
import { applyRetention, findRollbackTarget } from '../../server/services/artifacts/retention.service';
import { restoreRunningDeployments } from '../../server/services/deployments/rollout.service';
import { tarGz } from '../support/artifacts';
import { DB_KINDS, startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { uploadArtifact } from '../support/upload';
import { configVersionOf } from '../support/config-version';

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp) {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(TRPCError);
  expect(((err as TRPCError).cause as { code?: string } | undefined)?.code ?? (err as TRPCError).code).toBe(code);
  if (message) expect((err as TRPCError).message).toMatch(message);
}

const webApp = (name: string, text: string) =>
  tarGz({
    'package.json': JSON.stringify({ name, scripts: { start: 'node index.js' } }),
    'index.js': `require('http').createServer((q, s) => s.end(${JSON.stringify(text)})).listen(process.env.PORT, '127.0.0.1'); console.log('serving ${text}');`,
  });

/** Uploads and verifies (inline, or by the worker when one took the job first); returns the digest. */
async function stored(plane: TestPlane, app: string, bytes: Buffer): Promise<string> {
  const { completed, digest } = await uploadArtifact(plane, app, bytes);
  expect(completed.status).toBe('stored');
  expect(await plane.caller('reader').artifacts.wait({ app_name: app, digest, timeout_ms: 15_000 })).toMatchObject({ status: 'stored' });
  return digest;
}

/** Real processes on the local runtime, real workers, real Postgres. */
describe('deployments state machine and rollback, with real processes', { timeout: 90_000 }, () => {
  let plane: TestPlane;
  const deployer = () => plane.caller('deployer');
  const reader = () => plane.caller('reader');
  const deploy = async (digest: string) => {
    const { deployment } = await deployer().deployments.create({ app_name: 'shop', digest });
    return reader().deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
  };
  const answer = async (url: string | null) => (await fetch(url!)).text();
  let v1: TDeployment;
  let v2: TDeployment;

  beforeAll(async () => {
    plane = await startTestPlane('postgres');
    plane.startWorkers();
    await deployer().apps.create({ name: 'shop' });
    await deployer().apps.create({ name: 'other' });
  });
  afterAll(async () => plane?.close());

  it('refuses a rollback with nothing to roll back to', async () => {
    await expectCode(deployer().deployments.rollback({ app_name: 'shop' }), 'conflict', /nothing to roll back to/);
    v1 = await deploy(await stored(plane, 'shop', webApp('shop', 'v1')));
    expect(v1).toMatchObject({ status: 'running', rollback_of: null });
    // One deployment only: still nothing earlier.
    await expectCode(deployer().deployments.rollback({ app_name: 'shop' }), 'conflict', /nothing to roll back to/);
  });

  it('records every phase with its duration; the replaced deployment is superseded', async () => {
    v2 = await deploy(await stored(plane, 'shop', webApp('shop', 'v2')));
    expect(v2.status).toBe('running');
    expect(await answer(v2.url)).toBe('v2');
    expect(await reader().deployments.get({ id: v1.id })).toMatchObject({ status: 'superseded' });
    const events = await reader().deployments.events({ id: v2.id });
    expect(events.map((e) => e.phase)).toEqual(['created', 'rolling_out', 'fetch', 'verify', 'unpack', 'start', 'health', 'switch', 'running']);
    for (const e of events.filter((x) => x.phase !== 'created')) expect(e.duration_ms, e.phase).toEqual(expect.any(Number));
    const old = await reader().deployments.events({ id: v1.id });
    expect(old.at(-1)).toMatchObject({ phase: 'superseded', message: `replaced by ${v2.id}` });
  });

  it('a build that crashes on start fails with its reason and output; the previous keeps serving', async () => {
    const crash = tarGz({
      'package.json': JSON.stringify({ name: 'shop', scripts: { start: 'node index.js' } }),
      'index.js': "console.log('booting'); console.error('fatal: STRIPE_KEY is not set'); process.exit(2);",
    });
    const failed = await deploy(await stored(plane, 'shop', crash));
    expect(failed).toMatchObject({ status: 'failed', failure_reason: 'crashed_on_start', url: null });
    const events = await reader().deployments.events({ id: failed.id });
    expect(events.map((e) => e.phase)).toEqual(['created', 'rolling_out', 'fetch', 'verify', 'unpack', 'start', 'failed']);
    expect(events.at(-1)!.message).toMatch(/^crashed_on_start: the app exited \(code 2\)/);
    expect(events.at(-1)!.message).toContain('--- last output ---');
    expect(events.at(-1)!.message).toContain('fatal: STRIPE_KEY is not set');
    expect(await answer(v2.url)).toBe('v2');
    expect(await reader().deployments.get({ id: v2.id })).toMatchObject({ status: 'running' });
    // A failed deployment never ran: it is no rollback target.
    expect((await findRollbackTarget(plane.services.db, (await reader().apps.get({ app_name: 'shop' })).id))?.id).toBe(v1.id);
  });

  it('refuses bad rollbacks with clear codes, changing nothing', async () => {
    const before = await plane.services.db.select().from(deployments);
    await expectCode(reader().deployments.rollback({ app_name: 'shop' }), 'forbidden');
    await expectCode(plane.caller(null).deployments.rollback({ app_name: 'shop' }), 'unauthorized');
    await expectCode(deployer().deployments.rollback({ app_name: 'ghost' }), 'not_found');
    await expectCode(deployer().deployments.rollback({ app_name: 'shop', to: v2.id }), 'conflict', /what runs now/);
    await expectCode(deployer().deployments.rollback({ app_name: 'shop', to: randomUUID() }), 'not_found');
    await expectCode(deployer().deployments.rollback({ app_name: 'other', to: v1.id }), 'not_found');
    await expectCode(deployer().deployments.rollback({ app_name: 'shop', to: 'not-a-uuid' }), 'BAD_REQUEST');
    expect(await plane.services.db.select().from(deployments)).toEqual(before);
  });

  let back: { id: string; url: string | null };
  it('rolls back to the deployment before the current one: it runs again, the current one is rolled_back', async () => {
    const { deployment, created } = await deployer().deployments.rollback({ app_name: 'shop' });
    expect(created).toBe(true);
    expect(deployment).toMatchObject({ status: 'pending', digest: v1.digest, rollback_of: v1.id });
    // Retried while in flight: the same rollback, not a second one.
    const again = await deployer().deployments.rollback({ app_name: 'shop' });
    expect(again).toMatchObject({ created: false, deployment: { id: deployment.id } });

    back = await reader().deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(back).toMatchObject({ status: 'running', rollback_of: v1.id });
    expect(await answer(back.url)).toBe('v1');
    expect(await reader().deployments.get({ id: v2.id })).toMatchObject({ status: 'rolled_back' });
    // One stable URL through the router: v2's address is the app's, and it serves v1 now.
    expect(back.url).toBe(v2.url);
    expect(await answer(v2.url)).toBe('v1');
    const events = await reader().deployments.events({ id: deployment.id });
    expect(events[0]).toMatchObject({ phase: 'created', message: `rollback to ${v1.id} by deployer-user` });
    expect((await reader().deployments.events({ id: v2.id })).at(-1)).toMatchObject({ phase: 'rolled_back' });
    // What runs now is v1's artifact and v2 was judged bad: nothing left to roll back to by default.
    await expectCode(deployer().deployments.rollback({ app_name: 'shop' }), 'conflict', /nothing to roll back to/);
  });

  it('rolls back to an explicit deployment over REST, and refuses one whose artifact is gone', async () => {
    const post = (token: string, body: unknown) =>
      fetch(`${plane.url}/apps/shop/rollback`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const refused = await post(TOKENS.reader, { to: v2.id });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 'forbidden' });

    const res = await post(TOKENS.deployer, { to: v2.id });
    expect(res.status).toBe(200);
    const { deployment } = (await res.json()) as { deployment: { id: string; rollback_of: string } };
    expect(deployment.rollback_of).toBe(v2.id);
    const running = await reader().deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(await answer(running.url)).toBe('v2');
    expect(await reader().deployments.get({ id: back.id })).toMatchObject({ status: 'rolled_back' });

    const [v1Row] = await plane.services.db.select().from(deployments).where(eq(deployments.id, v1.id));
    await plane.services.db.update(artifacts).set({ status: 'deleted' }).where(eq(artifacts.id, v1Row!.artifactId));
    const gone = await post(TOKENS.deployer, { to: v1.id });
    expect(gone.status).toBe(409);
    expect(await gone.json()).toMatchObject({ code: 'conflict', message: expect.stringMatching(/is deleted, not stored/) });
    await plane.services.db.update(artifacts).set({ status: 'stored' }).where(eq(artifacts.id, v1Row!.artifactId));
  });

  it('after a restart, brings back what should run: a dead app is started again', async () => {
    const [current] = (await reader().apps.list()).filter((a) => a.name === 'shop').map((a) => a.current!);
    // The machine rebooted: the state file is there, the process is not.
    const { instances } = JSON.parse(await readFile(path.join(plane.dataDir, 'runtime/state/shop.json'), 'utf8')) as { instances: Array<{ pid: number }> };
    const pid = instances[0]!.pid;
    process.kill(-pid, 'SIGKILL');
    await pollUntil(() => fetch(current!.url!).then(() => true, () => false), (up) => !up, 5000);
    await restoreRunningDeployments(plane.services);
    const after = await reader().deployments.get({ id: current!.id });
    expect(after.status).toBe('running');
    expect(await answer(after.url)).toBe('v2');
  });
});

/** Rows only: rollback's default target is exactly the deployment retention protects. */
describe.each(DB_KINDS)('rollback target and retention agree, on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(kind, { AETHER_RETAIN_LATEST_PER_APP: '1' });
  });
  afterAll(async () => plane?.close());

  it('after a rollback the target is one further back, and retention keeps exactly current + target', async () => {
    const { id: appId } = await plane.caller('deployer').apps.create({ name: 'ledger' });
    const digests: string[] = [];
    for (let i = 0; i < 5; i++) digests.push(await stored(plane, 'ledger', webApp('ledger', `v${i}`)));
    const rows = await plane.services.db.select().from(artifacts).where(eq(artifacts.appId, appId));
    const artifactOf = (d: string) => rows.find((r) => r.digest === d)!;
    const insert = async (i: number, status: DeploymentStatus, minutesAgo: number) => {
      const at = new Date(Date.now() - minutesAgo * 60_000);
      const a = artifactOf(digests[i]!);
      const [row] = await plane.services.db
        .insert(deployments)
        .values({ appId, configVersionId: await configVersionOf(plane.services.db, appId), artifactId: a.id, digest: a.digest, status, createdBy: 'test', createdAt: at, lastTransitionAt: at })
        .returning();
      return row!;
    };
    // v0 ran, then v1, then v2 (rolled back to v1): v1's artifact runs again now.
    const d0 = await insert(0, 'superseded', 50);
    await insert(1, 'superseded', 40);
    await insert(2, 'rolled_back', 30);
    await insert(1, 'running', 20);
    await insert(3, 'failed', 10);

    const target = await findRollbackTarget(plane.services.db, appId);
    expect(target?.id).toBe(d0.id);
    const result = await applyRetention(plane.services, appId);
    // Newest stored (v4) is kept by N=1; v1 runs; v0 is the rollback target.
    expect(result.deleted.sort()).toEqual([artifactOf(digests[2]!).id, artifactOf(digests[3]!).id].sort());

    // No worker runs here: the rollback stays pending, which is all this test needs to see.
    const { deployment } = await plane.caller('deployer').deployments.rollback({ app_name: 'ledger' });
    expect(deployment.rollback_of).toBe(d0.id);
    expect(deployment.digest).toBe(digests[0]);
  });
});
