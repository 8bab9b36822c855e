import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appSource, get, isAlive, runtimeFixture, until } from './local-runtime-fixture';

// Real `npm start` process groups under the host's sandbox; every one is killed in afterAll.

let fx: Awaited<ReturnType<typeof runtimeFixture>>;
beforeAll(async () => {
  fx = await runtimeFixture('aether-scale-');
});
afterAll(async () => {
  await fx.cleanup();
});

describe('local runtime scale, restart and switch', { timeout: 90_000 }, () => {
  it('scales 1 -> 3 -> 0 -> 1: processes and router targets follow', async () => {
    const { driver, table } = fx.newDriver();
    const d = await fx.release('elastic', 'dep-elastic', appSource('elastic'));
    await driver.rollout(d, async () => {});
    const one = await fx.state('elastic');

    const three = await driver.scale({ ...d, instances: 3 });
    expect(three).toEqual({ health: 'healthy', instances: ['0', '1', '2'].map((id) => ({ id, ready: true, restarts: 0 })) });
    const st3 = await fx.state('elastic');
    expect(st3.desired).toBe(3);
    expect(st3.instances[0]!.pid).toBe(one.instances[0]!.pid); // the running one is kept
    for (const i of st3.instances) expect(await get(i.port)).toBe(`elastic ${i.port}`);
    expect(table.targets('elastic', 'dep-elastic').map((t) => [t.instance, t.port, t.ready])).toEqual(st3.instances.map((i) => [i.id, i.port, true]));

    const zero = await driver.scale({ ...d, instances: 0 });
    expect(zero).toEqual({ health: 'stopped', instances: [] });
    for (const i of st3.instances) expect(isAlive(i.pid)).toBe(false);
    expect(await fx.state('elastic')).toMatchObject({ deploymentId: 'dep-elastic', desired: 0, instances: [] });
    expect(table.resolve('elastic')).toEqual({ kind: 'none', appName: 'elastic' });
    // A restarted control plane starts nothing for it.
    const other = fx.newDriver();
    expect((await other.driver.restore([{ ...d, instances: 0 }]))[0]?.error).toBeNull();
    expect((await fx.state('elastic')).instances).toEqual([]);

    const back = await driver.scale({ ...d, instances: 1 });
    expect(back).toEqual({ health: 'healthy', instances: [{ id: '0', ready: true, restarts: 0 }] });
    const st1 = await fx.state('elastic');
    expect(table.resolve('elastic')).toEqual({ kind: 'target', port: st1.instances[0]!.port });
    expect(fx.reports.filter((r) => r.appName === 'elastic').map((r) => r.health)).toEqual(['healthy', 'stopped', 'healthy']);
    await driver.stop('elastic');
  });

  it('an instance that fails to start on scale-up is retried with backoff until it runs', async () => {
    const { driver, table } = fx.newDriver();
    // Exits at once while the test's marker file sits in its tree.
    const src = `if (require('fs').existsSync('refuse')) process.exit(3);\n${appSource('stubborn')}`;
    const d = await fx.release('stubborn', 'dep-stubborn', src);
    await driver.rollout(d, async () => {});
    const marker = path.join(fx.dataDir, 'runtime/apps/stubborn/dep-stubborn/refuse');
    await writeFile(marker, '');
    await expect(driver.scale({ ...d, instances: 2 })).rejects.toMatchObject({ reason: 'crashed_on_start' });
    const mine = () => fx.reports.filter((r) => r.appName === 'stubborn');
    expect(mine().map((r) => [r.health, r.instance])).toEqual([['degraded', '1']]);
    expect(mine()[0]!.message).toMatch(/^instance 1 failed to start \(the app exited \(code 3\) before answering HTTP\); restarting in 1 s$/);
    await rm(marker);
    const st = await until(() => fx.state('stubborn'), (s) => s.instances.length === 2, 10_000);
    expect(st.instances.map((i) => i.id)).toEqual(['0', '1']);
    expect(await get(st.instances[1]!.port)).toBe(`stubborn ${st.instances[1]!.port}`);
    expect(table.targets('stubborn', 'dep-stubborn').map((t) => [t.instance, t.ready])).toEqual([['0', true], ['1', true]]);
    expect(mine().map((r) => r.health)).toEqual(['degraded', 'healthy']);
    await driver.stop('stubborn');
  });

  it('restart() replaces every instance one at a time, the app answering throughout', async () => {
    const { driver, table } = fx.newDriver({ drainTimeoutMs: 5000 });
    const d = await fx.release('rolling', 'dep-rolling', appSource('rolling'), { instances: 2 });
    await driver.rollout(d, async () => {});
    const before = await fx.state('rolling');
    let failures = 0;
    let served = 0;
    let looping = true;
    // Asks the router's table where to go, as the router does, for every request.
    const loop = (async () => {
      while (looping) {
        const r = table.resolve('rolling');
        if (r.kind !== 'target') failures++;
        else {
          table.begin(r.port);
          await get(r.port).then(() => served++, () => failures++);
          table.end(r.port);
        }
      }
    })();
    const status = await driver.restart(d);
    looping = false;
    await loop;
    const after = await fx.state('rolling');
    expect(status).toEqual({ health: 'healthy', instances: ['0', '1'].map((id) => ({ id, ready: true, restarts: 0 })) });
    expect(after.instances.map((i) => i.id)).toEqual(['0', '1']);
    for (const [i, old] of before.instances.entries()) {
      expect(after.instances[i]!.pid).not.toBe(old.pid);
      expect(isAlive(old.pid)).toBe(false);
    }
    expect(failures).toBe(0);
    expect(served).toBeGreaterThan(10);
    await driver.stop('rolling');
  });

  it('restart() keeps the old instance routed until its replacement joins, even when another instance exits meanwhile', async () => {
    const { driver, table } = fx.newDriver({ drainTimeoutMs: 5000 });
    const d = await fx.release('steady', 'dep-steady', appSource('steady'), { instances: 2 });
    await driver.rollout(d, async () => {});
    const before = await fx.state('steady');
    let unrouted = 0;
    let looping = true;
    const loop = (async () => {
      while (looping) {
        if (table.resolve('steady').kind !== 'target') unrouted++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const restarting = driver.restart(d);
    // Instance 1 dies while instance 0's replacement boots (npm start takes longer than this).
    await new Promise((r) => setTimeout(r, 100));
    process.kill(-before.instances[1]!.pid, 'SIGKILL');
    await restarting;
    looping = false;
    await loop;
    expect(unrouted).toBe(0);
    expect(isAlive(before.instances[0]!.pid)).toBe(false);
    // Instance 1 comes back through its own restart, not the rolling one.
    const after = await until(() => fx.state('steady'), (s) => s.instances.length === 2, 10_000);
    expect(after.instances.map((i) => i.id)).toEqual(['0', '1']);
    expect(after.instances[0]!.pid).not.toBe(before.instances[0]!.pid);
    await driver.stop('steady');
  });

  it('restart() whose replacement fails keeps the old instance serving', async () => {
    const { driver, table } = fx.newDriver();
    const src = `if (require('fs').existsSync('refuse')) process.exit(3);\n${appSource('keepold')}`;
    const d = await fx.release('keepold', 'dep-keepold', src);
    await driver.rollout(d, async () => {});
    const [old] = (await fx.state('keepold')).instances;
    await writeFile(path.join(fx.dataDir, 'runtime/apps/keepold/dep-keepold/refuse'), '');
    await expect(driver.restart(d)).rejects.toMatchObject({ reason: 'crashed_on_start' });
    expect((await fx.state('keepold')).instances).toMatchObject([{ id: '0', pid: old!.pid, port: old!.port }]);
    expect(table.targets('keepold', 'dep-keepold')).toEqual([{ instance: '0', port: old!.port, ready: true }]);
    expect(await get(old!.port)).toBe(`keepold ${old!.port}`);
    expect(await driver.status({ appName: 'keepold', deploymentId: 'dep-keepold' })).toEqual({ health: 'healthy', instances: [{ id: '0', ready: true, restarts: 0 }] });
    await driver.stop('keepold');
    expect(isAlive(old!.pid)).toBe(false);
  });

  it('a rollout drains an in-flight slow request before stopping the old instance', async () => {
    const { driver, table } = fx.newDriver({ drainTimeoutMs: 10_000 });
    const v1 = await fx.release('drainy', 'dep-drain-1', appSource('v1'));
    await driver.rollout(v1, async () => {});
    const [old] = (await fx.state('drainy')).instances;
    // A request the router forwarded to v1 just before the switch.
    table.begin(old!.port);
    const slow = get(old!.port, '/slow').finally(() => table.end(old!.port));
    const v2 = await fx.release('drainy', 'dep-drain-2', appSource('v2'));
    const phases: string[] = [];
    await driver.rollout(v2, async (p) => void phases.push(p.message));
    expect(await slow).toBe('slow v1');
    expect(isAlive(old!.pid)).toBe(false);
    expect(phases.at(-1)).toMatch(/, replaced dep-drain-1 \(1 instance drained and stopped\)$/);
    const [fresh] = (await fx.state('drainy')).instances;
    expect(table.resolve('drainy')).toEqual({ kind: 'target', port: fresh!.port });
    expect(table.targets('drainy', 'dep-drain-1')).toEqual([]);
    await driver.stop('drainy');
  });
});
