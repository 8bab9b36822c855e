import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLogWriter } from '../../server/runtime/local/log-writer';

const run = promisify(execFile);

// The log writer runs as the control plane's user, outside the app's cgroup: whatever CPU an
// app's output costs it is not the app's. An app printing empty lines (1 MiB of them is a
// million records) must not turn its cheap writes into a core of the host.
describe('the log writer under a flood of empty lines', { timeout: 60_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'aether-log-flood-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('writes every record, spending well under the ~6 s of CPU one write per line took', async () => {
    const writer = await ensureLogWriter(path.join(dir, 'bin'));
    const log = path.join(dir, 'app.log');
    // The app's stdout (fd 3) a pipe of 2^20 newlines, its stderr (fd 4) an empty one; `times`
    // then prints the children's user and system CPU (second line), as `XmY.YYYs XmY.YYYs`.
    const script =
      `head -c 1048576 /dev/zero | tr '\\0' '\\n' | { "$1" "$2" "$3" ${64 * 1024 ** 2} 3<&0 4< <(true); }; times`;
    const { stdout } = await run('bash', ['-c', script, 'flood', process.execPath, writer, log]);
    const children = stdout.trim().split('\n')[1]!;
    const [user, sys] = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    const records = (await readFile(log, 'utf8')).split('\n').slice(0, -1);
    expect(records.length).toBe(1024 ** 2);
    expect(records.every((r) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z o $/.test(r))).toBe(true);
    expect(user! + sys!).toBeLessThan(3);
  });
});
