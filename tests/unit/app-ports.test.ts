import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createPortAllocator, parsePortRange } from '../../server/runtime/local/ports';
import { loadEnv } from '../../server/env';

const held: net.Server[] = [];
afterEach(() => held.splice(0).forEach((s) => s.close()));

function hold(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    held.push(s);
    s.listen(port, '127.0.0.1', () => resolve());
  });
}

// Below the ephemeral range (as the app range is): no outgoing connection on the host holds these.
describe('app instance ports', () => {
  it('hands out ports of its range only, never one twice while it may still be starting', async () => {
    const ports = createPortAllocator({ low: 19_100, high: 19_107 });
    const taken = [];
    for (let i = 0; i < 8; i++) taken.push(await ports.take());
    expect(new Set(taken).size).toBe(8);
    expect(taken.every((p) => p >= 19_100 && p <= 19_107)).toBe(true);
    await expect(ports.take()).rejects.toThrow(/no free port for an app instance in 19100-19107 .*AETHER_APP_PORT_RANGE/);
  });

  it('skips a port another process listens on', async () => {
    await hold(19_110);
    const ports = createPortAllocator({ low: 19_110, high: 19_111 });
    expect(await ports.take()).toBe(19_111);
    await expect(ports.take()).rejects.toThrow(/no free port/);
  });

  it('skips a port another process holds on another loopback address only (the app listens on all of them)', async () => {
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer().once('error', reject);
      held.push(s);
      s.listen(19_130, '127.0.0.2', () => resolve());
    });
    const ports = createPortAllocator({ low: 19_130, high: 19_131 });
    expect(await ports.take()).toBe(19_131);
  });

  it('hands a port out again once its hold has passed and it is free', async () => {
    let t = 0;
    const ports = createPortAllocator({ low: 19_120, high: 19_120 }, () => t);
    expect(await ports.take()).toBe(19_120);
    t += 60_000;
    await expect(ports.take()).rejects.toThrow(/no free port/);
    t += 61_000;
    expect(await ports.take()).toBe(19_120);
  });

  it('defaults below the ephemeral range, and refuses a range that is not one', () => {
    const env = (range?: string) => loadEnv({ AETHER_DATA_DIR: '/tmp/x', ...(range ? { AETHER_APP_PORT_RANGE: range } : {}) });
    expect(parsePortRange(env().AETHER_APP_PORT_RANGE)).toEqual({ low: 20_000, high: 29_999 });
    expect(parsePortRange(env('30000-30099').AETHER_APP_PORT_RANGE)).toEqual({ low: 30_000, high: 30_099 });
    for (const bad of ['80-90', '3000-2000', '60000-70000', 'x-y']) expect(() => env(bad), bad).toThrow(/AETHER_APP_PORT_RANGE/);
  });
});
