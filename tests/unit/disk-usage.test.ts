import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rmTree } from '../../server/runtime/local/instances';
import { diskUsage, MIN_ENTRY_BYTES } from '../../server/runtime/local/sandbox/disk-usage';
import { limitHit } from '../../server/runtime/local/sandbox/watchdog';

describe("the disk watchdog's measure of an app's directory, and its removal", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'aether-du-'));
  });
  afterEach(async () => rmTree(dir));

  it('charges each empty file and symlink a block: inodes are disk too', async () => {
    for (let i = 0; i < 1000; i++) await writeFile(path.join(dir, `empty-${i}`), '');
    for (let i = 0; i < 24; i++) await symlink('x', path.join(dir, `link-${i}`));
    // 1024 entries with no data block, a block each, and the directory itself.
    const own = Math.max((await lstat(dir)).blocks * 512, MIN_ENTRY_BYTES);
    expect(await diskUsage(dir)).toBe(1024 * MIN_ENTRY_BYTES + own);
    const limits = { cgroups: [], appDir: dir, memoryBytes: 0, pids: 0, diskBytes: 1024 ** 2 };
    const message = "disk limit of 1 MiB reached by the app's directory";
    expect(await limitHit(limits)).toEqual({ kind: 'disk', message });
  });

  it('stops walking once past the limit', async () => {
    for (let d = 0; d < 4; d++) {
      await mkdir(path.join(dir, `d${d}`));
      for (let i = 0; i < 100; i++) await writeFile(path.join(dir, `d${d}`, `f${i}`), '');
    }
    // Past 10 blocks at the 11th entry: the directory, one of its dirs and 9 files of it. No more.
    expect(await diskUsage(dir, 10 * MIN_ENTRY_BYTES)).toBe(11 * MIN_ENTRY_BYTES);
  });

  it('counts what it cannot measure, a tree nested beyond PATH_MAX, as over any limit', async () => {
    // Made with relative steps, as an app would (no path it uses is too long), 1 MiB at the bottom.
    const name = 'n'.repeat(200);
    const script = `cd "$1"; for i in $(seq 25); do mkdir ${name} && cd ${name}; done; head -c 1048576 /dev/zero >data`;
    const deep = path.join(dir, 'deep');
    await mkdir(deep);
    execFileSync('bash', ['-c', script, 'deep', deep]);
    expect(await diskUsage(dir)).toBe(Infinity);
    // And it is deleted with the app all the same: the disk it holds is given back.
    await rmTree(deep);
    expect(existsSync(deep)).toBe(false);
  });
});
