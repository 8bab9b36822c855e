import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalRuntime } from '../../server/runtime/local.driver';
import type { LogEntry, LogQuery, RuntimeDeployment, RuntimeDriver } from '../../server/runtime/port';
import { tarGz, writeArtifact } from '../support/artifacts';
import { runtimeDeployment } from '../support/runtime-deployment';

// Real `npm start` processes under the log writer; all stopped in afterAll.

let sandbox: string;
let store: string;
let dataDir: string;
let driver: RuntimeDriver;
const apps = new Set<string>();

const LOG_CAP = 4096;

beforeAll(async () => {
  sandbox = await mkdtemp(path.join(tmpdir(), 'aether-logs-'));
  store = path.join(sandbox, 'store');
  dataDir = path.join(sandbox, 'data');
  driver = createLocalRuntime({
    dataDir,
    source: async (key) => createReadStream(path.join(store, key)),
    healthTimeoutMs: 15_000,
    logMaxBytes: LOG_CAP,
    logKeepPerApp: 2,
  });
});

afterAll(async () => {
  for (const app of apps) await driver.stop(app);
  await rm(sandbox, { recursive: true, force: true });
});

/**
 * An app that prints to stdout and stderr on start, and on `GET /burst?n=&ms=` prints n
 * numbered lines, one every `ms` milliseconds (enough to rotate a small log several times).
 */
const chatty = [
  `const http = require('http');`,
  `console.log('out: started'); console.error('err: careful');`,
  `http.createServer((q, s) => {`,
  `  const u = new URL(q.url, 'http://x');`,
  `  if (u.pathname !== '/burst') { console.log('hit ' + u.pathname); return s.end('ok'); }`,
  `  const n = Number(u.searchParams.get('n')), ms = Number(u.searchParams.get('ms'));`,
  `  let i = 0; const pad = 'x'.repeat(40);`,
  `  const tick = () => { console.log('line ' + i + ' ' + pad); if (++i < n) setTimeout(tick, ms); else s.end('done'); };`,
  `  tick();`,
  `}).listen(process.env.PORT);`,
].join('\n');

async function rollOut(appName: string, deploymentId: string): Promise<string> {
  const bytes = tarGz({ 'package.json': JSON.stringify({ name: appName, scripts: { start: 'node index.js' } }), 'index.js': chatty });
  const { file, digest } = await writeArtifact(store, bytes);
  const d: RuntimeDeployment = runtimeDeployment({ appName, deploymentId, digest, storageKey: path.basename(file) });
  apps.add(appName);
  return (await driver.rollout(d, async () => {})).url;
}

async function collect(appName: string, deploymentId: string, q: LogQuery): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of driver.logs({ appName, deploymentId }, q)) out.push(e);
  return out;
}

const logsDir = (app: string) => path.join(dataDir, 'runtime/logs', app);

describe('local runtime logs', { timeout: 60_000 }, () => {
  let url: string;
  const t0 = new Date(Date.now() - 1000).toISOString();

  it('timestamps every line and tells stderr from stdout', async () => {
    url = await rollOut('talk', 'dep-talk-1');
    const entries = await collect('talk', 'dep-talk-1', { tail: 10, follow: false });
    expect(entries).toEqual(
      expect.arrayContaining([
        { time: expect.any(String), source: 'app', line: 'out: started', instance: '0' },
        { time: expect.any(String), source: 'app:stderr', line: 'err: careful', instance: '0' },
      ]),
    );
    for (const e of entries) {
      expect(e.time! >= t0).toBe(true);
      expect(new Date(e.time!).toISOString()).toBe(e.time);
    }
  });

  it('rotates at the size cap, keeps one rotated part, and reads the tail across both', async () => {
    expect(await (await fetch(`${url}/burst?n=300&ms=0`)).text()).toBe('done');
    const file = path.join(logsDir('talk'), 'dep-talk-1.log');
    expect((await stat(file)).size).toBeLessThanOrEqual(LOG_CAP);
    expect((await stat(`${file}.1`)).size).toBeLessThanOrEqual(LOG_CAP);
    expect((await readdir(logsDir('talk'))).sort()).toEqual(['dep-talk-1.log', 'dep-talk-1.log.1']);
    // More lines than the current file holds: the rest comes from the rotated part, in order.
    const tail = await collect('talk', 'dep-talk-1', { tail: 80, follow: false });
    expect(tail.map((e) => e.line)).toEqual(Array.from({ length: 80 }, (_, i) => `line ${220 + i} ${'x'.repeat(40)}`));
  });

  it('follows new lines live, across rotations, without gaps, and stops when aborted', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const e of driver.logs({ appName: 'talk', deploymentId: 'dep-talk-1' }, { tail: 0, follow: true, signal: ac.signal })) {
        seen.push(e.line);
        if (e.line.startsWith('line 149 ')) ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 300)); // the follower is at the end of the file
    // ~60 lines fill the 4 KiB cap: several rotations, at most one per poll interval.
    expect(await (await fetch(`${url}/burst?n=150&ms=5`)).text()).toBe('done');
    await Promise.race([following, new Promise((_, reject) => setTimeout(() => reject(new Error(`follow stalled: ${seen.at(-1)}`)), 10_000))]);
    expect(seen).toEqual(Array.from({ length: 150 }, (_, i) => `line ${i} ${'x'.repeat(40)}`));
  });

  it('filters by age with sinceSecs; lines from before timestamps have no time and pass', async () => {
    await mkdir(logsDir('aged'), { recursive: true });
    const ago = (secs: number) => new Date(Date.now() - secs * 1000).toISOString();
    await writeFile(
      path.join(logsDir('aged'), 'dep-aged.log'),
      [`${ago(7200)} o two hours ago`, `${ago(600)} e ten minutes ago`, 'raw line from an old log', `${ago(5)} o just now`, ''].join('\n'),
    );
    const lines = async (q: Partial<LogQuery>) => (await collect('aged', 'dep-aged', { tail: 100, follow: false, ...q })).map((e) => e.line);
    expect(await lines({})).toEqual(['two hours ago', 'ten minutes ago', 'raw line from an old log', 'just now']);
    expect(await lines({ sinceSecs: 1800 })).toEqual(['ten minutes ago', 'raw line from an old log', 'just now']);
    expect(await lines({ sinceSecs: 60 })).toEqual(['raw line from an old log', 'just now']);
    expect(await lines({ tail: 1, sinceSecs: 3600 })).toEqual(['just now']);
    const [raw] = await collect('aged', 'dep-aged', { tail: 2, follow: false });
    expect(raw).toEqual({ time: null, source: 'app', line: 'raw line from an old log', instance: '0' });
  });

  it("keeps only the app's last N deployments' logs, never the running one's", async () => {
    await mkdir(logsDir('talk'), { recursive: true });
    const old = ['dep-old-a', 'dep-old-b', 'dep-old-c'];
    for (const [i, id] of old.entries()) {
      const file = path.join(logsDir('talk'), `${id}.log`);
      await writeFile(file, `${new Date().toISOString()} o ${id}\n`);
      await writeFile(`${file}.1`, 'rotated part\n');
      const when = new Date(Date.now() - (10 - i) * 60_000); // a oldest, c newest
      await utimes(file, when, when);
    }
    // The running dep-talk-1 is written to now: the newest, then dep-talk-2 starts.
    await rollOut('talk', 'dep-talk-2');
    const left = (await readdir(logsDir('talk'))).sort();
    expect(left.filter((n) => n.endsWith('.log'))).toEqual(['dep-talk-1.log', 'dep-talk-2.log']);
    expect(left.some((n) => n.startsWith('dep-old-'))).toBe(false);
    // dep-talk-1 was replaced: its log stays readable.
    expect((await collect('talk', 'dep-talk-1', { tail: 1, follow: false }))[0]?.line).toMatch(/^line 149 /);
  });

  it('refuses a container other than "app" before any read, and unsafe ids', () => {
    expect(() => driver.logs({ appName: 'talk', deploymentId: 'dep-talk-2' }, { tail: 1, follow: false, container: 'sidecar' })).toThrow(/no container "sidecar"/);
    expect(() => driver.logs({ appName: '../etc', deploymentId: 'x' }, { tail: 1, follow: false })).toThrow(/invalid app name/);
    expect(() => driver.logs({ appName: 'talk', deploymentId: '../../passwd' }, { tail: 1, follow: false })).toThrow(/invalid deployment id/);
    expect(existsSync(path.join(logsDir('talk'), 'dep-talk-2.log'))).toBe(true);
  });
});
