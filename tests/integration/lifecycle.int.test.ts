import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { applications, deployments } from '../../db/schema';
import { createQueues } from '../../server/queues/producers';
import { createInnerContext } from '../../server/trpc/init';
import { createCaller } from '../../server/trpc/root';
import { actor, callerAs } from '../support/audit';
import { DB_KINDS, suitePlane, TOKENS, type TestPlane } from '../support/harness';
import { restRouteOf } from '../support/procedure-faces';
import { TEST_REDIS_URL } from '../support/redis';
import { createTargetApp } from '../support/team-fixtures';

/**
 * apps.scale / stop / start / restart on the control plane: validation (REST status and code,
 * tRPC code, exact), the max_instances limit and its override, refusals while a deployment is
 * in flight or nothing runs, a queue that is down (503, nothing changed), the state each call
 * leaves and the app object on every face. The jobs they queue are not run here (no workers):
 * lifecycle-runtime.int.test.ts runs them on a real local runtime.
 */

type Answer = { status: number; code: string; message?: string; body?: Record<string, unknown> };

async function rest(plane: TestPlane, path: string, input: Record<string, unknown>, token: string = TOKENS.deployer): Promise<Answer> {
  const route = restRouteOf(path)!;
  const body = { ...input };
  const url = route.path.replace(/\{([a-z_]+)\}/g, (_, k: string) => {
    const v = body[k];
    delete body[k];
    return encodeURIComponent(String(v));
  });
  const res = await fetch(`${plane.url}${url}`, {
    method: route.method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return res.ok ? { status: res.status, code: 'ok', body: json } : { status: res.status, code: String(json.code), message: String(json.message) };
}

async function trpc(plane: TestPlane, path: string, input: unknown, token: string = TOKENS.deployer): Promise<Answer> {
  const res = await fetch(`${plane.url}/api/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  const json = (await res.json()) as { result?: { data?: Record<string, unknown> }; error?: { message: string; data: { code: string } } };
  return json.error ? { status: res.status, code: json.error.data.code, message: json.error.message } : { status: res.status, code: 'ok', body: json.result?.data };
}

/** Both faces must give the same status and code; returns the REST answer. */
async function both(plane: TestPlane, path: string, input: Record<string, unknown>, token?: string): Promise<[number, string, string | undefined]> {
  const [r, t] = [await rest(plane, path, input, token), await trpc(plane, path, input, token)];
  expect([t.status, t.code], `tRPC ${path} ${JSON.stringify(input)}`).toEqual([r.status, r.code]);
  return [r.status, r.code, r.message];
}

const inputOf = (path: string, app: string) => (path === 'apps.scale' ? { app_name: app, instances: 2 } : { app_name: app });

async function appRow(plane: TestPlane, name: string) {
  const [row] = await plane.services.db.select().from(applications).where(eq(applications.name, name));
  return row!;
}

for (const kind of DB_KINDS) {
  describe(`app lifecycle procedures, on ${kind}`, { timeout: 90_000 }, () => {
    const plane = suitePlane(kind, { AETHER_MAX_INSTANCES: '4' });

    it('refuses bad input with exact codes on REST and tRPC, before changing anything', async () => {
      const t = await createTargetApp(plane().services, 'default');
      const scale = (instances: unknown) => ({ app_name: t.app, instances });
      const cases: Array<[string, Record<string, unknown>, number, string, string?]> = [
        ['apps.scale', scale(-1), 400, 'bad_request'],
        ['apps.scale', scale(1.5), 400, 'bad_request'],
        ['apps.scale', scale('2'), 400, 'bad_request'],
        ['apps.scale', scale(null), 400, 'bad_request'],
        ['apps.scale', { app_name: t.app }, 400, 'bad_request'],
        ['apps.scale', scale(2 ** 53), 400, 'bad_request'],
        ['apps.scale', scale(5), 403, 'quota_exceeded', `app "${t.app}" may run at most 4 instances (max_instances 4); asked for 5`],
        ['apps.scale', { app_name: 'Bad_Name', instances: 1 }, 400, 'bad_request'],
        ['apps.scale', { app_name: 'ghost-app', instances: 1 }, 404, 'not_found', 'app "ghost-app" not found'],
        ['apps.stop', { app_name: 'ghost-app' }, 404, 'not_found', 'app "ghost-app" not found'],
        ['apps.start', { app_name: 'ghost-app' }, 404, 'not_found', 'app "ghost-app" not found'],
        ['apps.restart', { app_name: 'ghost-app' }, 404, 'not_found', 'app "ghost-app" not found'],
        ['apps.restart', { app_name: '-x' }, 400, 'bad_request'],
      ];
      for (const [path, input, status, code, message] of cases) {
        const got = await both(plane(), path, input);
        expect(got.slice(0, 2), `${path} ${JSON.stringify(input)}`).toEqual([status, code]);
        if (message) expect(got[2]).toBe(message);
      }
      for (const path of ['apps.scale', 'apps.stop', 'apps.start', 'apps.restart']) {
        expect((await both(plane(), path, inputOf(path, t.app), TOKENS.reader)).slice(0, 2), path).toEqual([403, 'forbidden']);
      }
      const row = await appRow(plane(), t.app);
      expect([row.instances, row.lastInstances, row.health]).toEqual([1, 1, null]);
    });

    it('enforces max_instances, its per-app override, and its reset', async () => {
      const t = await createTargetApp(plane().services, 'default');
      const admin = callerAs(plane().services, actor('admin'));
      const limits = await admin.apps.setLimits({ app_name: t.app, max_instances: 6 });
      expect([limits.overrides.max_instances, limits.effective.max_instances]).toEqual([6, 6]);
      expect((await both(plane(), 'apps.scale', { app_name: t.app, instances: 7 })).slice(0, 3)).toEqual([
        403,
        'quota_exceeded',
        `app "${t.app}" may run at most 6 instances (max_instances 6); asked for 7`,
      ]);
      const ok = await rest(plane(), 'apps.scale', { app_name: t.app, instances: 6 });
      expect([ok.status, ok.body?.instances]).toEqual([200, 6]);
      const reset = await rest(plane(), 'apps.setLimits', { app_name: t.app, max_instances: null }, TOKENS.admin);
      expect(reset.body).toMatchObject({ overrides: { max_instances: null }, effective: { max_instances: 4 } });
      // Lowering the cap stops nothing; the next scale above it is refused.
      expect((await appRow(plane(), t.app)).instances).toBe(6);
      expect((await both(plane(), 'apps.scale', { app_name: t.app, instances: 5 })).slice(0, 2)).toEqual([403, 'quota_exceeded']);
      expect((await both(plane(), 'apps.setLimits', { app_name: t.app, max_instances: 0 }, TOKENS.admin)).slice(0, 2)).toEqual([400, 'bad_request']);
      // Starting an app whose last count is above a lowered cap is refused the same way.
      await rest(plane(), 'apps.stop', { app_name: t.app });
      expect((await both(plane(), 'apps.start', { app_name: t.app })).slice(0, 2)).toEqual([403, 'quota_exceeded']);
    });

    it('refuses while a deployment is in flight, and when nothing runs', async () => {
      const t = await createTargetApp(plane().services, 'default');
      const db = plane().services.db;
      const [running] = await db.select().from(deployments).where(eq(deployments.id, t.deploymentId));
      const [pending] = await db
        .insert(deployments)
        .values({ appId: running!.appId, artifactId: running!.artifactId, digest: running!.digest, configVersionId: running!.configVersionId, status: 'pending', createdBy: 'test' })
        .returning();
      for (const path of ['apps.scale', 'apps.stop', 'apps.start', 'apps.restart']) {
        const verb = path.slice('apps.'.length);
        expect(await both(plane(), path, inputOf(path, t.app)), path).toEqual([
          409,
          'conflict',
          `deployment ${pending!.id} of app "${t.app}" is pending; ${verb} once it settles`,
        ]);
      }
      await db.update(deployments).set({ status: 'failed' }).where(eq(deployments.id, pending!.id));
      await db.update(deployments).set({ status: 'superseded' }).where(eq(deployments.id, t.deploymentId));
      for (const path of ['apps.scale', 'apps.stop', 'apps.start', 'apps.restart']) {
        const verb = path.slice('apps.'.length);
        expect(await both(plane(), path, inputOf(path, t.app)), path).toEqual([409, 'conflict', `app "${t.app}" has no running release to ${verb}: deploy it first`]);
      }
      const row = await appRow(plane(), t.app);
      expect([row.instances, row.lastInstances, row.health]).toEqual([1, 1, null]);
    });

    it('scale, stop, start and restart answer the app object and leave the desired state', async () => {
      const t = await createTargetApp(plane().services, 'default');
      const url = 'http://lifecycle.localhost:8080';
      await plane().services.db.update(deployments).set({ url }).where(eq(deployments.id, t.deploymentId));
      const scaled = await rest(plane(), 'apps.scale', { app_name: t.app, instances: 3 });
      expect(scaled.body).toMatchObject({ name: t.app, url, instances: 3, health: null, health_message: null });
      const stopped = await trpc(plane(), 'apps.stop', { app_name: t.app });
      expect(stopped.body).toMatchObject({ instances: 0, health: 'stopped', health_message: 'stopped by deployer-user' });
      expect((await appRow(plane(), t.app)).lastInstances).toBe(3);
      // A stopped app cannot be restarted: there is nothing to replace.
      expect(await both(plane(), 'apps.restart', { app_name: t.app })).toEqual([409, 'conflict', `app "${t.app}" is stopped: start it (apps.start) instead of restarting it`]);
      const started = await rest(plane(), 'apps.start', { app_name: t.app });
      expect(started.body).toMatchObject({ instances: 3, url });
      const restarted = await rest(plane(), 'apps.restart', { app_name: t.app });
      expect([restarted.status, restarted.body?.instances]).toEqual([200, 3]);
      // Every face carries the same app object.
      const got = await fetch(`${plane().url}/apps/${t.app}`, { headers: { authorization: `Bearer ${TOKENS.reader}` } }).then((r) => r.json());
      const listed = ((await fetch(`${plane().url}/apps`, { headers: { authorization: `Bearer ${TOKENS.reader}` } }).then((r) => r.json())) as Array<{ name: string }>).find(
        (a) => a.name === t.app,
      );
      const viaTrpc = await plane().caller('reader').apps.get({ app_name: t.app });
      const shape = { url, instances: 3, health: 'stopped', health_message: 'stopped by deployer-user' };
      for (const face of [got, listed, viaTrpc]) expect(face).toMatchObject(shape);
      // Four jobs on the rollout queue, carrying ids and the verb only.
      const jobs = await plane().services.queues.rollout.getJobs(['waiting'], 0, 100);
      const mine = jobs.filter((j) => (j.data as { appId?: string }).appId === (scaled.body?.id as string));
      expect(mine.map((j) => [j.name, j.data]).sort()).toEqual(
        [
          ['app.lifecycle', { appId: scaled.body?.id, action: 'restart' }],
          ['app.lifecycle', { appId: scaled.body?.id, action: 'scale' }],
          ['app.lifecycle', { appId: scaled.body?.id, action: 'scale' }],
          ['app.lifecycle', { appId: scaled.body?.id, action: 'scale' }],
        ].sort(),
      );
    });

    it('an app with nothing deployed has url null and one desired instance', async () => {
      const created = await plane().caller('deployer').apps.create({ name: `fresh-${kind}` });
      expect(created).toMatchObject({ url: null, instances: 1, health: null, health_message: null });
    });

    it('answers 503 fast while the job queue is down, and changes nothing', async () => {
      const t = await createTargetApp(plane().services, 'default');
      const dead = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
      const queues = createQueues(dead, plane().services.queues.prefix);
      await queues.rollout.waitUntilReady();
      dead.disconnect();
      try {
        const down = createCaller(createInnerContext({ ...plane().services, queues }, { name: 'deployer-user', role: 'deployer', tokenId: null, teams: null }));
        const calls = [
          () => down.apps.scale({ app_name: t.app, instances: 3 }),
          () => down.apps.stop({ app_name: t.app }),
          () => down.apps.start({ app_name: t.app }),
          () => down.apps.restart({ app_name: t.app }),
        ];
        for (const call of calls) {
          const t0 = Date.now();
          const err = (await call().then(
            () => null,
            (e: unknown) => e as { cause?: { code?: string }; message: string },
          ))!;
          expect([err.cause?.code, err.message]).toEqual(['service_unavailable', 'job queue unavailable; nothing was changed, try again']);
          expect(Date.now() - t0).toBeLessThan(5000);
          const row = await appRow(plane(), t.app);
          expect([row.instances, row.lastInstances, row.health, row.healthMessage, row.healthChangedAt]).toEqual([1, 1, null, null, null]);
        }
      } finally {
        await queues.close().catch(() => {});
        dead.disconnect();
      }
    });
  });
}
