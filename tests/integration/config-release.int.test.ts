import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SECRET_MASK, type TConfigView } from '../../server/contract/config';
import { appEnv, envAppArtifact, settle, storeArtifact, type DeploymentView } from '../support/env-app';
import { callFace, callOk, FACES, type Face, type FaceCall, type Op } from '../support/faces';
import { DB_KINDS, suitePlane } from '../support/harness';

/**
 * Releases with real processes, on both faces and both databases: what is set through the API
 * is what the app's process reads from its environment (tests/fixtures/env-app answers with it),
 * a rollback brings the old values back, a crashing config fails and leaves the previous release
 * serving, staged changes wait for config.deploy, and the timeline names keys, never values.
 */

interface ChangeResult {
  config: TConfigView;
  deployment: DeploymentView | null;
  changes: { set: string[]; unset: string[]; settings: string[] };
}
interface EventView {
  phase: string;
  message: string;
}

describe.each(DB_KINDS)('config releases with real processes, on %s', { timeout: 240_000 }, (kind) => {
  const plane = suitePlane(kind, { AETHER_HEALTH_TIMEOUT_SECS: '60' });
  let workersStarted = false;
  const ensureWorkers = () => {
    if (workersStarted) return;
    plane().startWorkers();
    workersStarted = true;
  };

  describe.each(FACES)('over %s', (face: Face) => {
    const app = `cfg-${face}`;
    /** Unique values, so "never in events or messages" cannot pass by accident. */
    const plain1 = `plain-one-${randomBytes(6).toString('hex')}`;
    const plain2 = `plain-two-${randomBytes(6).toString('hex')}`;
    const staged = `plain-staged-${randomBytes(6).toString('hex')}`;
    const secret = `secret-${randomBytes(12).toString('hex')}`;
    const call = <T>(op: Op, input: unknown, token: FaceCall['token'] = 'deployer') => callOk<T>(plane(), face, { op, input, token });
    const change = (input: Record<string, unknown>) => call<ChangeResult>('configChange', { app_name: app, ...input });
    const list = () => call<TConfigView>('configList', { app_name: app }, 'reader');
    const events = (id: string) => call<EventView[]>('deploymentEvents', { id }, 'reader');
    const current = async () => {
      const apps = await call<Array<{ name: string; current: DeploymentView | null }>>('listApps', {}, 'reader');
      return apps.find((a) => a.name === app)!.current;
    };
    // REST answers the seed's {id, status}; tRPC's create the whole deployment.
    const deploy = async (input: { app_name: string; digest: string }) => {
      const res = await call<{ deployment?: DeploymentView } & Partial<DeploymentView>>('createDeployment', input);
      return res.deployment ?? (res as DeploymentView);
    };
    const deployed: string[] = [];
    const rolledOut = async (d: DeploymentView | null) => {
      expect(d, 'a deployment was created').not.toBeNull();
      deployed.push(d!.id);
      return settle(plane(), face, d!.id);
    };
    let first: DeploymentView;

    it('a value and a secret set through the API are what the app process reads', async () => {
      ensureWorkers();
      await call('createApp', { name: app });
      const digest = await storeArtifact(plane(), app, envAppArtifact());
      // Nothing runs yet: the change makes a version, and the first deploy runs with it.
      const set = await change({ set: { GREETING: plain1 }, secrets: { API_KEY: secret } });
      expect(set.deployment).toBeNull();
      expect(set.changes).toEqual({ set: ['API_KEY', 'GREETING'], unset: [], settings: [] });
      const deployment = await deploy({ app_name: app, digest });
      first = await rolledOut(deployment);
      expect(first).toMatchObject({ status: 'running', failure_reason: null });
      expect(await appEnv(first.url, 'GREETING')).toBe(plain1);
      expect(await appEnv(first.url, 'API_KEY')).toBe(secret);
      expect(await appEnv(first.url, 'PORT')).toMatch(/^\d+$/);
      const timeline = await events(first.id);
      expect(timeline.find((e) => e.phase === 'config')?.message).toMatch(/set API_KEY, GREETING/);
    });

    it('config.list masks the secret, with when and by whom it was set; no response carries it', async () => {
      const view = await list();
      expect(view).toMatchObject({ app_name: app, staged: false, staged_changes: { set: [], unset: [], settings: [] } });
      expect(view.running_version).toBe(view.version);
      const byName = Object.fromEntries(view.entries.map((e) => [e.name, e]));
      expect(byName.API_KEY).toEqual({ name: 'API_KEY', secret: true, value: null, display: SECRET_MASK, set_at: expect.any(String), set_by: 'deployer-user' });
      expect(Number.isNaN(Date.parse(byName.API_KEY!.set_at))).toBe(false);
      expect(byName.GREETING).toMatchObject({ secret: false, value: plain1, display: plain1, set_by: 'deployer-user' });
      const raw = await callFace(plane(), face, { op: 'configList', input: { app_name: app }, token: 'reader' });
      expect(JSON.stringify(raw.data)).not.toContain(secret);
    });

    it('a config change redeploys the running artifact with the new value; its event names the key only', async () => {
      const res = await change({ set: { GREETING: plain2 } });
      expect(res.changes).toEqual({ set: ['GREETING'], unset: [], settings: [] });
      const d = await rolledOut(res.deployment);
      expect(d).toMatchObject({ status: 'running', digest: first.digest });
      expect(await appEnv(d.url, 'GREETING')).toBe(plain2);
      expect(await appEnv(d.url, 'API_KEY')).toBe(secret);
      const config = (await events(d.id)).filter((e) => e.phase === 'config');
      expect(config).toHaveLength(1);
      expect(config[0]!.message).toMatch(/^config v\d+: set GREETING$/);
    });

    it('a rollback brings back the old value, and the config pointer with it', async () => {
      const before = await list();
      const { deployment } = await call<{ deployment: DeploymentView }>('rollback', { app_name: app });
      expect(deployment.rollback_of).toBe(first.id);
      const back = await rolledOut(deployment);
      expect(back.status).toBe('running');
      expect(await appEnv(back.url, 'GREETING')).toBe(plain1);
      expect(await appEnv(back.url, 'API_KEY')).toBe(secret);
      const after = await list();
      expect(after.entries.find((e) => e.name === 'GREETING')?.value).toBe(plain1);
      expect(after.version).toBeLessThan(before.version);
      expect(after).toMatchObject({ staged: false, running_version: after.version });
    });

    it('a config that makes the app crash ends failed; the previous release keeps serving its values', async () => {
      const serving = (await current())!;
      const res = await change({ set: { CRASH_ON_START: '1' } });
      const failed = await rolledOut(res.deployment);
      expect(failed).toMatchObject({ status: 'failed', failure_reason: 'crashed_on_start', url: null });
      expect(await appEnv(serving.url, 'GREETING')).toBe(plain1);
      expect(await appEnv(serving.url, 'CRASH_ON_START')).toBeNull();
      expect((await current())!.id).toBe(serving.id);
      expect(await call<DeploymentView>('getDeployment', { id: serving.id }, 'reader')).toMatchObject({ status: 'running' });
      // Unset again: the app runs with what it had.
      const fixed = await rolledOut((await change({ unset: ['CRASH_ON_START'] })).deployment);
      expect(fixed.status).toBe('running');
      expect(await appEnv(fixed.url, 'GREETING')).toBe(plain1);
    });

    let crashMessage = '';
    const password = `pw-${randomBytes(12).toString('hex')}`;
    it('a crashing app that prints a secret (its DATABASE_URL) fails, its output tail in the failed event', async () => {
      const res = await change({ secrets: { DATABASE_URL: `postgres://app:${password}@db.internal/app` }, set: { CRASH_ON_START: '1' } });
      try {
        const failed = await rolledOut(res.deployment);
        expect(failed).toMatchObject({ status: 'failed', failure_reason: 'crashed_on_start' });
        crashMessage = (await events(failed.id)).at(-1)!.message;
        expect(crashMessage).toContain('--- last output ---');
        expect(crashMessage).toContain('env-app: cannot connect to [secret], exiting');
      } finally {
        await settle(plane(), face, (await change({ unset: ['CRASH_ON_START', 'DATABASE_URL'] })).deployment!.id);
      }
    });

    // The tail is the app's own output: a secret it prints as it crashes is masked before the
    // event is stored and served in the timeline.
    it("the failed event's output tail does not carry the secret's value", () => {
      expect(crashMessage).toContain('env-app: cannot connect to [secret], exiting');
      expect(crashMessage).not.toContain(password);
    });

    it('deploy: false stages the change; config.deploy rolls it out', async () => {
      const serving = (await current())!;
      const res = await change({ set: { GREETING: staged }, unset: ['API_KEY'], deploy: false });
      expect(res.deployment).toBeNull();
      expect(res.config).toMatchObject({ staged: true, staged_changes: { set: ['GREETING'], unset: ['API_KEY'], settings: [] } });
      const view = await list();
      expect(view).toMatchObject({ staged: true, staged_changes: { set: ['GREETING'], unset: ['API_KEY'], settings: [] } });
      expect(view.running_version).toBeLessThan(view.version);
      expect((await current())!.id).toBe(serving.id);
      expect(await appEnv(serving.url, 'GREETING')).toBe(plain1);
      expect(await appEnv(serving.url, 'API_KEY')).toBe(secret);

      const { deployment, created } = await call<{ deployment: DeploymentView; created: boolean }>('configDeploy', { app_name: app });
      expect(created).toBe(true);
      const d = await rolledOut(deployment);
      expect(d).toMatchObject({ status: 'running', digest: first.digest });
      expect(await appEnv(d.url, 'GREETING')).toBe(staged);
      expect(await appEnv(d.url, 'API_KEY')).toBeNull();
      expect((await events(d.id)).find((e) => e.phase === 'config')?.message).toMatch(/set GREETING; unset API_KEY/);
      expect(await list()).toMatchObject({ staged: false, staged_changes: { set: [], unset: [], settings: [] } });
    });

    it('a new artifact deploys with the staged config; a rollback restores both the artifact and the config', async () => {
      const before = (await current())!;
      await change({ set: { GREETING: `${staged}-b` }, deploy: false });
      const digestB = await storeArtifact(plane(), app, envAppArtifact({ 'VERSION.txt': 'b' }));
      const deployment = await deploy({ app_name: app, digest: digestB });
      const b = await rolledOut(deployment);
      expect(b).toMatchObject({ status: 'running', digest: digestB });
      expect(await appEnv(b.url, 'GREETING')).toBe(`${staged}-b`);
      expect((await events(b.id)).find((e) => e.phase === 'config')?.message).toMatch(/: set GREETING$/);

      const rolled = await call<{ deployment: DeploymentView }>('rollback', { app_name: app });
      const back = await rolledOut(rolled.deployment);
      expect(back).toMatchObject({ status: 'running', digest: before.digest, rollback_of: before.id });
      expect(await appEnv(back.url, 'GREETING')).toBe(staged);
      expect(await list()).toMatchObject({ staged: false, entries: expect.arrayContaining([expect.objectContaining({ name: 'GREETING', value: staged })]) });
    });

    it('a custom start_command runs', async () => {
      const command = 'STARTED_BY=start_command exec node index.js';
      const res = await call<{ deployment: DeploymentView | null }>('updateApp', { app_name: app, start_command: command });
      const d = await rolledOut(res.deployment);
      expect(d.status).toBe('running');
      expect(await appEnv(d.url, 'STARTED_BY')).toBe('start_command');
      expect(await appEnv(d.url, 'GREETING')).toBe(staged);
      expect((await events(d.id)).find((e) => e.phase === 'config')?.message).toMatch(/settings start_command/);
      expect((await list()).settings).toMatchObject({ start_command: command });
    });

    it('a custom health_path is what the health check asks: an app healthy only on /ready runs', async () => {
      const settings = { health_path: '/ready', health_timeout_secs: 10, deploy: false };
      const staging = await call<{ deployment: DeploymentView | null }>('updateApp', { app_name: app, ...settings });
      expect(staging.deployment).toBeNull();
      const d = await rolledOut((await change({ set: { ONLY_READY: '1' } })).deployment);
      expect(d.status).toBe('running');
      expect((await fetch(`${d.url}/`)).status).toBe(503);
      expect((await fetch(`${d.url}/ready`)).status).toBe(200);
      // A path the app answers only with 503 fails the health check, within the app's 10 s timeout.
      const t0 = Date.now();
      const bad = await rolledOut((await call<{ deployment: DeploymentView | null }>('updateApp', { app_name: app, health_path: '/nowhere' })).deployment);
      expect(bad, JSON.stringify(await events(bad.id))).toMatchObject({ status: 'failed', failure_reason: 'health_check_failed' });
      expect(Date.now() - t0, "the app's 10 s timeout, not the default 60 s").toBeLessThan(40_000);
      expect((await fetch(`${d.url}/ready`)).status).toBe(200);
    });

    it('no event of any of its deployments carries a value', async () => {
      for (const id of [first.id, ...deployed]) {
        const text = JSON.stringify(await events(id));
        for (const v of [plain1, plain2, staged, secret]) expect(text, `events of ${id}`).not.toContain(v);
      }
    });
  });
});
