import { appendFile, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors';
import { appLogsDirOf, assertInstanceId, layoutOf, legacyLogFileOf, logFileOf, parseLogFileName, type Layout } from '../../server/runtime/local/layout';
import { deploymentLogs, pruneAppLogs } from '../../server/runtime/local/logs';
import type { LogEntry, LogQuery } from '../../server/runtime/port';

// Log files written as the log writer writes them (`<time> <o|e> <text>`), read back through
// the local driver's log reader.

let root: string;
let layout: Layout;
const APP = 'shop';
const DEP = '4f1d7c1e-0000-4000-8000-000000000001';

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'aether-instance-logs-'));
  layout = layoutOf(root);
  await mkdir(appLogsDirOf(layout, APP), { recursive: true });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const rec = (time: string, text: string, tag: 'o' | 'e' = 'o') => `2026-12-05T06:00:${time}Z ${tag} ${text}\n`;

async function collect(q: Partial<LogQuery>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of deploymentLogs(layout, { appName: APP, deploymentId: DEP }, { tail: 100, follow: false, ...q })) out.push(e);
  return out;
}

describe('log file of an instance', () => {
  it('keeps instance 0 at the deployment file and numbers the others', () => {
    expect(logFileOf(layout, APP, DEP)).toBe(path.join(layout.logsDir, APP, `${DEP}.log`));
    expect(logFileOf(layout, APP, DEP, '0')).toBe(path.join(layout.logsDir, APP, `${DEP}.log`));
    expect(logFileOf(layout, APP, DEP, '12')).toBe(path.join(layout.logsDir, APP, `${DEP}.12.log`));
    expect(parseLogFileName(`${DEP}.12.log.1`)).toEqual({ deploymentId: DEP, instance: '12', rotated: true });
    expect(parseLogFileName(`${DEP}.log`)).toEqual({ deploymentId: DEP, instance: '0', rotated: false });
    expect(parseLogFileName('notes.txt')).toBeNull();
  });

  it.each(['', '-1', '01', '1000', 'a', '1.5', '../0'])('refuses instance %j with bad_request', (bad) => {
    const thrown = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err;
      }
      return null;
    };
    for (const err of [thrown(() => assertInstanceId(bad)), thrown(() => logFileOf(layout, APP, DEP, bad))]) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('bad_request');
    }
  });

  it('accepts 0 to 999', () => {
    for (const ok of ['0', '7', '10', '999']) expect(() => assertInstanceId(ok)).not.toThrow();
  });
});

describe('reading a deployment across instances', () => {
  beforeEach(async () => {
    await writeFile(logFileOf(layout, APP, DEP, '0'), rec('01.000', 'a0') + rec('03.000', 'c0') + rec('03.000', 'd0'));
    await writeFile(logFileOf(layout, APP, DEP, '1'), rec('02.000', 'b1') + rec('03.000', 'c1', 'e'));
    // A rotated part of instance 2, older than its current file.
    await writeFile(`${logFileOf(layout, APP, DEP, '2')}.1`, rec('00.500', 'old2'));
    await writeFile(logFileOf(layout, APP, DEP, '2'), rec('04.000', 'e2'));
    // Another deployment's instance file in the same directory stays out.
    await writeFile(path.join(appLogsDirOf(layout, APP), 'other-dep.1.log'), rec('02.500', 'not mine'));
  });

  it('merges by time, ties in instance order then file order, each entry with its instance', async () => {
    const entries = await collect({});
    expect(entries.map((e) => `${e.instance}:${e.line}`)).toEqual(['2:old2', '0:a0', '1:b1', '0:c0', '0:d0', '1:c1', '2:e2']);
    expect(entries.find((e) => e.line === 'c1')).toEqual({ time: '2026-12-05T06:00:03.000Z', source: 'app:stderr', line: 'c1', instance: '1' });
  });

  it('tails across instances', async () => {
    expect((await collect({ tail: 3 })).map((e) => e.line)).toEqual(['d0', 'c1', 'e2']);
    expect(await collect({ tail: 0 })).toEqual([]);
  });

  it('filters by instance; an instance without a file has no entries', async () => {
    expect((await collect({ instance: '1' })).map((e) => e.line)).toEqual(['b1', 'c1']);
    expect((await collect({ instance: '2', tail: 2 })).map((e) => e.line)).toEqual(['old2', 'e2']);
    expect(await collect({ instance: '5' })).toEqual([]);
  });

  it('reads a deployment from before per-app directories as instance 0', async () => {
    const old = 'legacy-dep';
    await writeFile(legacyLogFileOf(layout, old), 'raw one\nraw two\n');
    const out: LogEntry[] = [];
    for await (const e of deploymentLogs(layout, { appName: APP, deploymentId: old }, { tail: 10, follow: false })) out.push(e);
    expect(out).toEqual([
      { time: null, source: 'app', line: 'raw one', instance: '0' },
      { time: null, source: 'app', line: 'raw two', instance: '0' },
    ]);
  });
});

describe('following a deployment', () => {
  it('follows every instance, also one whose file appears later (a scale-up or restart)', async () => {
    await writeFile(logFileOf(layout, APP, DEP, '0'), rec('01.000', 'before'));
    const abort = new AbortController();
    const it = deploymentLogs(layout, { appName: APP, deploymentId: DEP }, { tail: 10, follow: true, signal: abort.signal });
    const seen: string[] = [];
    const next = async () => {
      const r = await it.next();
      if (!r.done) seen.push(`${r.value.instance}:${r.value.line}`);
    };
    await next();
    await writeFile(logFileOf(layout, APP, DEP, '3'), rec('05.000', 'scaled up'));
    await next();
    // A restarted instance appends to its own file.
    await appendFile(logFileOf(layout, APP, DEP, '3'), rec('06.000', 'restarted'));
    await appendFile(logFileOf(layout, APP, DEP, '0'), rec('07.000', 'still here'));
    await next();
    await next();
    abort.abort();
    await it.return(undefined);
    expect(seen).toEqual(['0:before', '3:scaled up', '3:restarted', '0:still here']);
  });

  it('with an instance filter, waits for that instance only', async () => {
    const abort = new AbortController();
    const it = deploymentLogs(layout, { appName: APP, deploymentId: DEP }, { tail: 10, follow: true, instance: '1', signal: abort.signal });
    const first = it.next();
    await writeFile(logFileOf(layout, APP, DEP, '0'), rec('01.000', 'zero'));
    await writeFile(logFileOf(layout, APP, DEP, '1'), rec('02.000', 'one'));
    const r = await first;
    abort.abort();
    await it.return(undefined);
    expect(r.value).toMatchObject({ line: 'one', instance: '1' });
  });
});

describe('pruning an app logs', () => {
  it('counts a deployment with all its instance files as one and deletes them together', async () => {
    const dir = appLogsDirOf(layout, APP);
    const at = async (name: string, secondsAgo: number) => {
      const file = path.join(dir, name);
      await writeFile(file, rec('01.000', name));
      const t = new Date(Date.now() - secondsAgo * 1000);
      await utimes(file, t, t);
    };
    // old: three instances and a rotated part; mid: one instance; new: two instances.
    await at('old.log', 300);
    await at('old.1.log', 290);
    await at('old.2.log', 280);
    await at('old.2.log.1', 285);
    await at('mid.log', 200);
    await at('new.log', 100);
    await at('new.1.log', 10);
    await at('running.log', 500);
    await writeFile(path.join(dir, 'README'), 'not a log');

    const doomed = await pruneAppLogs(dir, 3, new Set(['running']));
    expect(doomed).toEqual(['old']);
    expect((await readdir(dir)).sort()).toEqual(['README', 'mid.log', 'new.1.log', 'new.log', 'running.log']);
    // A deployment is as recent as its newest file: `late` started long ago, but instance 4 wrote just now.
    await at('late.log', 400);
    await at('late.4.log', 1);
    expect(await pruneAppLogs(dir, 3, new Set(['running']))).toEqual(['mid']);
    expect((await readdir(dir)).sort()).toEqual(['README', 'late.4.log', 'late.log', 'new.1.log', 'new.log', 'running.log']);
  });
});
