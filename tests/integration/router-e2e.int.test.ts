import { beforeAll, describe, expect, it } from 'vitest';
import { envAppArtifact, settle, storeArtifact } from '../support/env-app';
import { suitePlane } from '../support/harness';
import { appPids } from '../support/app-processes';
import { pollUntil } from '../support/poll';
import { startWrk } from '../support/wrk';

/**
 * The local runtime behind its router, end to end on a real control plane: one stable URL per
 * app through redeploys, a rollback, a config change and a rolling restart under load from wrk
 * (an external process), supervision of a killed instance, a crash loop, and scaling.
 */
describe('the stable URL, through the router', () => {
  // Two restarts within the window make a crash loop here (default 5): the crash-loop test is quicker.
  const plane = suitePlane('postgres', { AETHER_HEALTH_TIMEOUT_SECS: '30', AETHER_DRAIN_TIMEOUT_SECS: '10', AETHER_CRASH_LOOP_RESTARTS: '2' });

  // Every test deploys through the queue, each on its own (-t runs one alone).
  beforeAll(() => void plane().startWorkers());

  const routerOf = (url: string) => {
    const u = new URL(url);
    return { target: `http://127.0.0.1:${u.port}/`, host: u.host };
  };

  /** Creates `app` with its process marker (see appPids), staged for its first deploy. */
  async function createApp(app: string) {
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: app });
    await deployer.config.change({ app_name: app, set: { MARKER: app }, deploy: false });
  }

  async function deployNew(app: string, marker: string) {
    const deployer = plane().caller('deployer');
    const digest = await storeArtifact(plane(), app, envAppArtifact({ 'marker.txt': marker }));
    const { deployment } = await deployer.deployments.create({ app_name: app, digest });
    return settle(plane(), 'trpc', deployment.id);
  }

  async function appOf(app: string) {
    return plane().caller('reader').apps.get({ app_name: app });
  }

  it('serves every request through 3 redeploys, a rollback, a config change and a restart', { timeout: 240_000 }, async () => {
    const deployer = plane().caller('deployer');
    await createApp('steady-url');
    const first = await deployNew('steady-url', 'v1');
    expect(first.status).toBe('running');
    expect(first.url).toMatch(/^http:\/\/steady-url\.localhost:\d+$/);
    expect((await appOf('steady-url')).url).toBe(first.url);
    expect(await (await fetch(`${first.url}/`)).text()).toBe('env-app\n');

    const { target, host } = routerOf(first.url!);
    const load = startWrk(target, host, { connections: 32 });
    try {
      for (const marker of ['v2', 'v3', 'v4']) {
        const d = await deployNew('steady-url', marker);
        expect([d.status, d.url]).toEqual(['running', first.url]);
      }
      const { deployment: back } = await deployer.deployments.rollback({ app_name: 'steady-url' });
      expect((await settle(plane(), 'trpc', back.id)).status).toBe('running');
      const changed = await deployer.config.change({ app_name: 'steady-url', set: { GREETING: 'hi' } });
      expect((await settle(plane(), 'trpc', changed.deployment!.id)).status).toBe('running');
      const pidsBefore = await appPids('steady-url');
      await deployer.apps.restart({ app_name: 'steady-url' });
      const pidsAfter = await pollUntil(() => appPids('steady-url'), (pids) => pids.length === 1 && pids[0] !== pidsBefore[0], 60_000);
      expect(pidsAfter).toHaveLength(1);
      expect(pidsAfter[0]).not.toBe(pidsBefore[0]);
      expect((await pollUntil(() => appOf('steady-url'), (a) => a.health === 'healthy', 30_000)).health).toBe('healthy');
    } finally {
      const summary = await load.stop();
      // Printed for the note: how much load the switches ran under.
      console.log(`wrk through the router during the switches: ${summary.requests} requests, ${summary.requestsPerSec} req/s, p99 ${summary.p99Ms} ms`);
      expect(summary.requests).toBeGreaterThan(1000);
      expect({ non2xx: summary.non2xx, socketErrors: summary.socketErrors }).toEqual({ non2xx: 0, socketErrors: 0 });
    }
    expect(await (await fetch(`${first.url}/env/GREETING`)).text()).toBe('hi');
  });

  it('brings a SIGKILLed instance back within the backoff, and its health history shows it', { timeout: 240_000 }, async () => {
    const deployer = plane().caller('deployer');
    await createApp('phoenix');
    const d = await deployNew('phoenix', 'p1');
    const [pid] = await appPids('phoenix');
    expect(pid).toBeDefined();
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');
    // First restart after 1 s; the app boots in well under a second.
    const back = await pollUntil(
      async () => ({ status: await fetch(`${d.url}/`).then((r) => r.status, () => 0), pids: await appPids('phoenix') }),
      (v) => v.status === 200 && v.pids.length === 1 && v.pids[0] !== pid,
      15_000,
    );
    expect(back.status).toBe(200);
    expect(back.pids).toHaveLength(1);
    expect(back.pids[0]).not.toBe(pid);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect((await pollUntil(() => appOf('phoenix'), (a) => a.health === 'healthy', 15_000)).health).toBe('healthy');
    const events = await plane().caller('reader').deployments.events({ id: d.id });
    const health = events.filter((e) => e.phase === 'health').map((e) => e.message).join('\n');
    expect(health).toMatch(/signal SIGKILL|code 137/);
    expect(health).toMatch(/restart/);
  });

  it('reaches crash_loop for an app that keeps exiting, and the router answers 503', { timeout: 240_000 }, async () => {
    const deployer = plane().caller('deployer');
    await createApp('flaky');
    // Healthy for a second each time, then gone: 2 restarts (1 + 2 s of backoff) make a crash loop.
    await deployer.config.change({ app_name: 'flaky', set: { EXIT_AFTER_MS: '1000' }, deploy: false });
    const d = await deployNew('flaky', 'f1');
    expect(d.status).toBe('running');
    const app = await pollUntil(() => appOf('flaky'), (a) => a.health === 'crash_loop', 30_000);
    expect(app.health).toBe('crash_loop');
    expect(app.health_message).toMatch(/code 3/);
    const res = await fetch(`${d.url}/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('flaky');
  });

  it('follows scale 1 -> 3 -> 0 -> start with processes and router targets', { timeout: 240_000 }, async () => {
    const deployer = plane().caller('deployer');
    await createApp('many');
    const d = await deployNew('many', 'm1');
    await deployer.apps.scale({ app_name: 'many', instances: 3 });
    expect(await pollUntil(() => appPids('many'), (pids) => pids.length === 3, 60_000)).toHaveLength(3);
    // `instances` is the desired count at once; the scale job ends by recording what the runtime reports.
    const scaled = await pollUntil(() => appOf('many'), (a) => a.health_message === '3/3 instances ready', 60_000);
    expect(scaled).toMatchObject({ health: 'healthy', instances: 3 });
    // Round robin: 30 requests reach all three instances (env-app answers its own PORT).
    const ports = new Set<string>();
    for (let i = 0; i < 30; i++) ports.add(await (await fetch(`${d.url}/env/PORT`)).text());
    expect(ports.size).toBe(3);

    await deployer.apps.stop({ app_name: 'many' });
    expect(await pollUntil(() => appPids('many'), (pids) => pids.length === 0, 60_000)).toEqual([]);
    expect(await pollUntil(() => appOf('many'), (a) => a.health === 'stopped', 30_000)).toMatchObject({ health: 'stopped', instances: 0 });
    const stopped = await fetch(`${d.url}/`);
    expect(stopped.status).toBe(502);
    expect(await stopped.text()).toContain('many');

    await deployer.apps.start({ app_name: 'many' });
    expect(await pollUntil(() => appPids('many'), (pids) => pids.length === 3, 60_000)).toHaveLength(3);
    expect(await pollUntil(() => fetch(`${d.url}/`).then((r) => r.status, () => 0), (s) => s === 200, 30_000)).toBe(200);
  });
});
