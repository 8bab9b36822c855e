import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createUidAllocator, parseUidRange, uidRangeClashes } from '../../server/runtime/local/sandbox/uids';

describe('app uid allocation', () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'aether-uids-'));
  });
  afterEach(async () => rm(stateDir, { recursive: true, force: true }));

  it('names what on the host already holds ids of the range: users, groups, rootless containers', async () => {
    const etc = stateDir;
    const range = { low: 100_000, high: 165_535 };
    expect(await uidRangeClashes(range, etc)).toEqual([]); // no such files: nothing to clash with
    await writeFile(path.join(etc, 'passwd'), 'root:x:0:0::/root:/bin/bash\nsvc:x:120000:120000::/:/bin/false\n');
    await writeFile(path.join(etc, 'group'), 'root:x:0:\nsvc:x:120000:\nlast:x:165536:\n');
    // Debian's useradd gives the first user 100000:65536, as rootless podman and docker expect.
    await writeFile(path.join(etc, 'subuid'), 'alice:100000:65536\nbob:165536:65536\n');
    await writeFile(path.join(etc, 'subgid'), 'alice:99000:1001\nbob:165536:65536\n');
    expect(await uidRangeClashes(range, etc)).toEqual([
      'user svc (120000)',
      'group svc (120000)',
      'subuid of alice (100000-165535)',
      'subgid of alice (99000-100000)',
    ]);
    expect(await uidRangeClashes({ low: 300_000, high: 365_535 }, etc)).toEqual([]);
  });

  it('parses the range and refuses a reversed or malformed one', () => {
    expect(parseUidRange('100000-165535')).toEqual({ low: 100_000, high: 165_535 });
    expect(() => parseUidRange('200-100')).toThrow('invalid uid range "200-100": want <low>-<high>');
    expect(() => parseUidRange('100000')).toThrow('invalid uid range "100000"');
  });

  it('gives two racing allocators (two control-plane processes) distinct uids, each app one, kept in the file', async () => {
    const range = { low: 200_000, high: 200_099 };
    const a = createUidAllocator(stateDir, range);
    const b = createUidAllocator(stateDir, range);
    const apps = Array.from({ length: 20 }, (_, i) => `app-${i}`);
    // Every app asked for by both at once: the file lock, not an in-process queue, must decide.
    // In opposite orders, so that without it both would hand the same first uid to different apps.
    const reversed = [...apps].reverse();
    const [fromA, fromBReversed] = await Promise.all([Promise.all(apps.map((n) => a.uidOf(n))), Promise.all(reversed.map((n) => b.uidOf(n)))]);
    expect(fromA).toEqual([...fromBReversed].reverse());
    expect(new Set(fromA).size).toBe(20);
    expect([...fromA].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => 200_000 + i));
    const table = JSON.parse(await readFile(path.join(stateDir, '_uids.json'), 'utf8')) as Record<string, number>;
    expect(table).toEqual(Object.fromEntries(apps.map((n, i) => [n, fromA[i]])));
    // A restarted control plane reads the same table.
    expect(await createUidAllocator(stateDir, range).uidOf('app-7')).toBe(fromA[7]);
  });

  it('refuses an app when the range is used up, and takes over a lock whose owner died', async () => {
    const alloc = createUidAllocator(stateDir, { low: 300_000, high: 300_001 });
    expect(await alloc.uidOf('one')).toBe(300_000);
    expect(await alloc.uidOf('two')).toBe(300_001);
    await expect(alloc.uidOf('three')).rejects.toThrow('no free uid left in 300000-300001 for app three');
    // A lock left by a process that no longer exists (pid beyond pid_max) does not block.
    await writeFile(path.join(stateDir, '_uids.lock'), '99999999');
    expect(await alloc.uidOf('one')).toBe(300_000);
  });
});
