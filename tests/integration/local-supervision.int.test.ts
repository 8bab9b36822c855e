import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appSource, get, isAlive, runtimeFixture, until } from './local-runtime-fixture';

// Real `npm start` process groups under the host's sandbox; every one is killed in afterAll.

let fx: Awaited<ReturnType<typeof runtimeFixture>>;
beforeAll(async () => {
  fx = await runtimeFixture('aether-supervision-');
});
afterAll(async () => {
  await fx.cleanup();
});

describe('local runtime supervision', { timeout: 90_000 }, () => {
  it('runs N instances on distinct ports, all routed and healthy', async () => {
    const { driver, table } = fx.newDriver();
    const d = await fx.release('trio', 'dep-trio', appSource('trio'), { instances: 3 });
    const { url } = await driver.rollout(d, async () => {});
    const st = await fx.state('trio');
    expect(st.desired).toBe(3);
    expect(st.instances.map((i) => i.id)).toEqual(['0', '1', '2']);
    expect(new Set(st.instances.map((i) => i.port)).size).toBe(3);
    for (const i of st.instances) expect(await get(i.port)).toBe(`trio ${i.port}`);
    expect(url).toBe(`http://127.0.0.1:${st.instances[0]!.port}`); // no router: the first instance
    expect(table.targets('trio', 'dep-trio')).toEqual(st.instances.map((i) => ({ instance: i.id, port: i.port, ready: true })));
    expect(await driver.status({ appName: 'trio', deploymentId: 'dep-trio' })).toEqual({
      health: 'healthy',
      instances: ['0', '1', '2'].map((id) => ({ id, ready: true, restarts: 0 })),
    });
    await driver.stop('trio');
    for (const i of st.instances) expect(isAlive(i.pid)).toBe(false);
  });

  it('restarts a killed instance within the backoff, reporting degraded then healthy', async () => {
    const { driver, table } = fx.newDriver();
    const d = await fx.release('phoenix', 'dep-phoenix', appSource('phoenix'), { instances: 2 });
    await driver.rollout(d, async () => {});
    const before = await fx.state('phoenix');
    const victim = before.instances[1]!;
    const t0 = Date.now();
    process.kill(-victim.pid, 'SIGKILL');
    const after = await until(() => fx.state('phoenix'), (s) => s.instances.length === 2 && s.instances[1]!.pid !== victim.pid, 10_000);
    expect(Date.now() - t0).toBeLessThan(6000); // 1 s backoff, then a start and a health check
    const fresh = after.instances[1]!;
    expect(await get(fresh.port)).toBe(`phoenix ${fresh.port}`);
    expect(table.targets('phoenix', 'dep-phoenix')).toContainEqual({ instance: '1', port: fresh.port, ready: true });
    const mine = fx.reports.filter((r) => r.appName === 'phoenix');
    expect(mine.map((r) => r.health)).toEqual(['degraded', 'healthy']);
    expect(mine[0]).toMatchObject({ instance: '1', message: 'instance 1 exited (signal SIGKILL); restarting in 1 s' });
    expect((await driver.status({ appName: 'phoenix', deploymentId: 'dep-phoenix' })).instances[1]).toEqual({ id: '1', ready: true, restarts: 1 });
    await driver.stop('phoenix');
  });

  it('an instance whose exit is being handled while the app scales below it is not restarted, the app stays healthy', async () => {
    const { driver, table } = fx.newDriver();
    const d = await fx.release('shrink', 'dep-shrink', appSource('shrink'), { instances: 2 });
    await driver.rollout(d, async () => {});
    const [, victim] = (await fx.state('shrink')).instances;
    process.kill(-victim!.pid, 'SIGKILL');
    // The supervisor takes it out of the router first, then reads its last words and cleans up.
    while (table.targets('shrink', 'dep-shrink').length === 2) await new Promise((r) => setTimeout(r, 2));
    expect(await driver.scale({ ...d, instances: 1 })).toMatchObject({ instances: [{ id: '0', ready: true }] });
    await new Promise((r) => setTimeout(r, 2500)); // past the 1 s backoff a restart would have had
    expect(await driver.status({ appName: 'shrink', deploymentId: 'dep-shrink' })).toEqual({ health: 'healthy', instances: [{ id: '0', ready: true, restarts: 0 }] });
    expect((await fx.state('shrink')).instances.map((i) => i.id)).toEqual(['0']);
    expect(fx.reports.filter((r) => r.appName === 'shrink').map((r) => r.health)).not.toContain('degraded');
    await driver.stop('shrink');
    expect(fx.reports.filter((r) => r.appName === 'shrink').at(-1)?.health).not.toBe('restarting');
  });

  it('does not resurrect an app whose state file another control plane deleted', async () => {
    const { driver, table } = fx.newDriver();
    const d = await fx.release('gone', 'dep-gone', appSource('gone'));
    await driver.rollout(d, async () => {});
    const [inst] = (await fx.state('gone')).instances;
    // What the web's deleteApp does in its own process: stop the app, forget its state.
    const stateFile = path.join(fx.dataDir, 'runtime/state/gone.json');
    await rm(stateFile);
    process.kill(-inst!.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 2500)); // past the 1 s backoff
    await expect(stat(stateFile)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await driver.status({ appName: 'gone', deploymentId: 'dep-gone' })).toEqual({ health: 'stopped', instances: [] });
    expect(table.targets('gone', 'dep-gone')).toEqual([]);
    expect(fx.reports.filter((r) => r.appName === 'gone').map((r) => r.health)).toEqual(['restarting']);
  });

  it('an app that always exits after becoming healthy ends in crash_loop, and the router says so', async () => {
    const { driver, table } = fx.newDriver();
    const d = await fx.release('looper', 'dep-looper', appSource('looper', { exitAfterMs: 1000 }), {
      settings: { crashLoopRestarts: 2, crashLoopWindowMs: 60_000 },
    });
    await driver.rollout(d, async () => {});
    await until(() => fx.reports.filter((r) => r.appName === 'looper').map((r) => r.health), (h) => h.includes('crash_loop'), 20_000);
    const mine = fx.reports.filter((r) => r.appName === 'looper');
    // Exits once up; restart 1 (after 1 s) and restart 2 (after 2 s) are healthy a moment,
    // then exit again: the third exit within the window is the loop, retried at the cap.
    expect(mine.map((r) => r.health)).toEqual(['restarting', 'healthy', 'restarting', 'healthy', 'crash_loop']);
    expect(mine.map((r) => r.message)).toEqual([
      'instance 0 exited (code 7); restarting in 1 s',
      'instance 0 restarted: all 1 instance ready',
      'instance 0 exited (code 7); restarting in 2 s',
      'instance 0 restarted: all 1 instance ready',
      'instance 0 exited (code 7); restarting in 30 s',
    ]);
    expect(mine.at(-1)?.outputTail).toContain('> looper@1.0.0 start');
    expect(table.resolve('looper')).toEqual({ kind: 'crash_loop', appName: 'looper' });
    expect((await driver.status({ appName: 'looper', deploymentId: 'dep-looper' })).health).toBe('crash_loop');
    await driver.stop('looper');
  });

  it('takes an instance failing 3 health checks in a row out of the router, and back once it passes', async () => {
    const { driver, table } = fx.newDriver();
    const sick = [
      `const http = require('http');`,
      `let ill = false;`,
      `http.createServer((q, s) => {`,
      `  if (q.url === '/toggle') { ill = !ill; return s.end('ok'); }`,
      `  s.statusCode = q.url === '/health' && ill ? 503 : 200; s.end('wobbly');`,
      `}).listen(process.env.PORT);`,
    ].join('\n');
    const d = await fx.release('wobbly', 'dep-wobbly', sick, { instances: 2, settings: { healthPath: '/health', healthIntervalMs: 200 } });
    await driver.rollout(d, async () => {});
    const [first, second] = (await fx.state('wobbly')).instances;
    await get(second!.port, '/toggle');
    const out = await until(() => table.targets('wobbly', 'dep-wobbly'), (t) => t[1]?.ready === false, 5000);
    expect(out).toEqual([{ instance: '0', port: first!.port, ready: true }, { instance: '1', port: second!.port, ready: false }]);
    expect(table.resolve('wobbly')).toEqual({ kind: 'target', port: first!.port });
    await get(second!.port, '/toggle');
    await until(() => table.targets('wobbly', 'dep-wobbly'), (t) => t[1]?.ready === true, 5000);
    const mine = fx.reports.filter((r) => r.appName === 'wobbly');
    expect(mine.map((r) => [r.health, r.message])).toEqual([
      ['degraded', 'instance 1 failed 3 health checks in a row: out of the router'],
      ['healthy', 'instance 1 passes its health checks again'],
    ]);
    expect((await fx.state('wobbly')).instances[1]!.pid).toBe(second!.pid); // not restarted: it still runs
    await driver.stop('wobbly');
  });

  it('restore() re-adopts N live instances, also from the single-instance state file of an older control plane', async () => {
    const first = fx.newDriver();
    const d = await fx.release('keeper', 'dep-keeper', appSource('keeper'), { instances: 2 });
    await first.driver.rollout(d, async () => {});
    const before = await fx.state('keeper');
    const second = fx.newDriver();
    const [outcome] = await second.driver.restore([d]);
    expect(outcome?.error).toBeNull();
    expect((await fx.state('keeper')).instances.map((i) => i.pid)).toEqual(before.instances.map((i) => i.pid));
    expect(second.table.targets('keeper', 'dep-keeper').map((t) => t.port)).toEqual(before.instances.map((i) => i.port));

    const legacyApp = await fx.release('legacy', 'dep-legacy', appSource('legacy'));
    await first.driver.rollout(legacyApp, async () => {});
    const [only] = (await fx.state('legacy')).instances as Array<Record<string, unknown>>;
    const { id: _id, ...rest } = only!;
    const old = { deploymentId: 'dep-legacy', digest: legacyApp.digest, storageKey: legacyApp.storageKey, ...rest };
    await writeFile(path.join(fx.dataDir, 'runtime/state/legacy.json'), JSON.stringify(old));
    const third = fx.newDriver();
    const [back] = await third.driver.restore([legacyApp]);
    expect(back?.error).toBeNull();
    expect((await fx.state('legacy')).instances).toMatchObject([{ id: '0', pid: only!.pid, port: only!.port }]);
    await third.driver.stop('legacy');
    expect(isAlive(only!.pid as number)).toBe(false);
    await second.driver.stop('keeper');
    await first.driver.stop('keeper');
  });
});
