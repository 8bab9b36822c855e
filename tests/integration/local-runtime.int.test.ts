import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalRuntime } from '../../server/runtime/local.driver';
import { RolloutError, type PhaseReport, type RuntimeDeployment, type RuntimeDriver } from '../../server/runtime/port';
import { tarGz, writeArtifact } from '../support/artifacts';
import { runtimeDeployment } from '../support/runtime-deployment';

// Real `npm start` process groups on 127.0.0.1; every one is killed in afterAll.

let sandbox: string;
let store: string;
let dataDir: string;
let driver: RuntimeDriver;
const logged: string[] = [];

const source = async (storageKey: string) => createReadStream(path.join(store, storageKey));
const newDriver = (healthTimeoutMs = 15_000) =>
  createLocalRuntime({ dataDir, source, healthTimeoutMs, log: (msg) => logged.push(msg) });

/** A tiny app: logs on start, per request and on SIGTERM, answers its version. */
function appSource(version: string): string {
  return [
    `const http = require('http');`,
    `console.log('starting ${version}');`,
    `process.on('SIGTERM', () => { console.log('stopping ${version}'); process.exit(0); });`,
    `http.createServer((q, s) => { console.log('hit ' + q.url); s.end('${version}'); }).listen(process.env.PORT);`,
  ].join('\n');
}

async function deployment(appName: string, deploymentId: string, indexJs: string): Promise<RuntimeDeployment> {
  const bytes = tarGz({
    'package.json': JSON.stringify({ name: appName, version: '1.0.0', scripts: { start: 'node index.js' } }),
    'index.js': indexJs,
  });
  const { file, digest } = await writeArtifact(store, bytes);
  return runtimeDeployment({ appName, deploymentId, digest, storageKey: path.basename(file) });
}

async function get(url: string): Promise<string> {
  const res = await fetch(`${url}/`);
  return res.text();
}

async function statePid(appName: string): Promise<number> {
  const raw = await readFile(path.join(dataDir, 'runtime/state', `${appName}.json`), 'utf8');
  return (JSON.parse(raw) as { instances: Array<{ pid: number }> }).instances[0]!.pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ESRCH');
    return false;
  }
}

/**
 * Asserts process group `pgid` has no live member now, and is gone entirely soon after:
 * members orphaned by the group kill are zombies until PID 1 reaps them, which some inits
 * (this sandbox's included) only do every second or so.
 */
async function expectGroupGone(pgid: number): Promise<void> {
  expect(await liveMembers(pgid)).toEqual([]);
  const deadline = Date.now() + 10_000;
  while (alive(-pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(alive(-pgid)).toBe(false);
}

async function liveMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    const stat = /^\d+$/.test(name) ? await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '') : '';
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (stat && Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(name));
  }
  return members;
}

async function rolloutError(p: Promise<unknown>): Promise<RolloutError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RolloutError);
  return err as RolloutError;
}

/** Live processes whose cwd is inside `dir` (Linux /proc), with their process group. */
async function processesUnder(dir: string): Promise<Array<{ pid: number; pgrp: number }>> {
  const found: Array<{ pid: number; pgrp: number }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
    if (!cwd.startsWith(dir)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z') found.push({ pid: Number(name), pgrp: Number(fields[2]) });
  }
  return found;
}

async function killEverythingUnder(dir: string): Promise<void> {
  for (const { pid, pgrp } of await processesUnder(dir)) {
    try {
      process.kill(pgrp > 1 ? -pgrp : pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Stands in for the control plane's secrets (DATABASE_URL, ...), which no app process may see. */
const CONTROL_PLANE_SECRET = `secret-${process.pid}-do-not-leak`;

beforeAll(async () => {
  process.env.AETHER_TEST_CONTROL_PLANE_SECRET = CONTROL_PLANE_SECRET;
  sandbox = await mkdtemp(path.join(tmpdir(), 'aether-runtime-'));
  store = path.join(sandbox, 'store');
  dataDir = path.join(sandbox, 'data');
  driver = newDriver();
});

afterAll(async () => {
  await killEverythingUnder(sandbox);
  // A supervisor may be restarting an instance it saw die just now: retry until it gives up
  // (it does once the state file is gone), then kill what it started meanwhile.
  await rm(sandbox, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  await killEverythingUnder(sandbox);
});

describe('local runtime with real processes', { timeout: 60_000 }, () => {
  let v1: RuntimeDeployment;
  let v2: RuntimeDeployment;
  let v1Pid: number;
  let v2Url: string;

  it('rolls out v1 through every phase and serves it', async () => {
    v1 = await deployment('demo', 'dep-v1', appSource('v1'));
    const phases: PhaseReport[] = [];
    const { url } = await driver.rollout(v1, async (p) => void phases.push(p));
    expect(phases.map((p) => p.phase)).toEqual(['fetch', 'verify', 'unpack', 'start', 'health', 'switch']);
    expect(phases.every((p) => p.durationMs >= 0 && p.message.length > 0)).toBe(true);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await get(url)).toBe('v1');
    v1Pid = await statePid('demo');
    // The app and its log writer carry nothing of the control plane's environment.
    const running = await processesUnder(sandbox);
    expect(running.length).toBeGreaterThanOrEqual(2);
    for (const { pid } of running) expect(await readFile(`/proc/${pid}/environ`, 'utf8')).not.toContain(CONTROL_PLANE_SECRET);
  });

  it('replaces v1 with v2 and leaves no v1 process group', async () => {
    v2 = await deployment('demo', 'dep-v2', appSource('v2'));
    const { url } = await driver.rollout(v2, async () => {});
    v2Url = url;
    expect(await get(url)).toBe('v2');
    expect(alive(v1Pid)).toBe(false);
    await expectGroupGone(v1Pid);
    // The old tree is deleted after the rollout is reported (the app's lock covers it).
    const deadline = Date.now() + 5000;
    while (existsSync(path.join(dataDir, 'runtime/apps/demo/dep-v1')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(path.join(dataDir, 'runtime/apps/demo/dep-v1'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'runtime/logs/demo/dep-v1.log'))).toBe(true);
    // Its last words on the stop signal are in its log: the writer outlives the app's group.
    const deadlineLog = Date.now() + 5000;
    let v1Log = '';
    while (!v1Log.includes('stopping v1') && Date.now() < deadlineLog) {
      v1Log = await readFile(path.join(dataDir, 'runtime/logs/demo/dep-v1.log'), 'utf8');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(v1Log).toMatch(/Z o stopping v1\n/);
  });

  it('refuses bytes whose digest does not match, and v2 keeps serving', async () => {
    const good = await deployment('demo', 'dep-bad', appSource('v3'));
    const tampered = { ...good, digest: 'f'.repeat(64) };
    const err = await rolloutError(driver.rollout(tampered, async () => {}));
    expect(err.reason).toBe('digest_mismatch');
    expect(await get(v2Url)).toBe('v2');
    expect(existsSync(path.join(dataDir, 'runtime/apps/demo/dep-bad'))).toBe(false);
    expect(await readdir(path.join(dataDir, 'runtime/tmp'))).toEqual([]);
  });

  it('classifies a missing object as fetch_failed and a hostile archive as archive_refused', async () => {
    const good = await deployment('demo', 'dep-gone', appSource('v3'));
    const gone = await rolloutError(driver.rollout({ ...good, storageKey: 'no-such-object.tar.gz' }, async () => {}));
    expect(gone.reason).toBe('fetch_failed');
    const bytes = tarGz([{ path: 'package.json', content: '{}' }, { path: '../escape.js', content: 'x' }]);
    const { file, digest } = await writeArtifact(store, bytes);
    const phases: string[] = [];
    const hostile = await rolloutError(driver.rollout(runtimeDeployment({ appName: 'demo', deploymentId: 'dep-hostile', digest, storageKey: path.basename(file) }), async (p) => void phases.push(p.phase)));
    expect(hostile.reason).toBe('archive_refused');
    expect(phases).toEqual(['fetch', 'verify']);
    expect(existsSync(path.join(dataDir, 'runtime/apps/escape.js'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'runtime/apps/demo/dep-hostile'))).toBe(false);
    expect(await get(v2Url)).toBe('v2');
  });

  it('reports crashed_on_start with the output tail, and v2 keeps serving', async () => {
    const crash = await deployment(
      'demo',
      'dep-crash',
      `console.log('booting'); console.error('fatal: DATABASE_URL is not set'); process.exit(3);`,
    );
    const phases: string[] = [];
    const err = await rolloutError(driver.rollout(crash, async (p) => void phases.push(p.phase)));
    expect(err.reason).toBe('crashed_on_start');
    if (process.env.SHOW_TAIL) console.log(err.message, err.outputTail);
    expect(err.outputTail.join('\n')).toContain('fatal: DATABASE_URL is not set');
    expect(phases).toEqual(['fetch', 'verify', 'unpack', 'start']);
    expect(await get(v2Url)).toBe('v2');
    expect(existsSync(path.join(dataDir, 'runtime/apps/demo/dep-crash'))).toBe(false);
  });

  it('times out an app that answers only 5xx as health_check_failed, and v2 keeps serving', async () => {
    const sick = await deployment('demo', 'dep-sick', `require('http').createServer((q, s) => { s.statusCode = 503; s.end(); }).listen(process.env.PORT);`);
    const err = await rolloutError(driver.rollout({ ...sick, settings: { ...sick.settings, healthTimeoutMs: 2000 } }, async () => {}));
    expect(err.reason).toBe('health_check_failed');
    expect(err.message).toMatch(/answered only HTTP 503/);
    expect(await processesUnder(path.join(dataDir, 'runtime/apps/demo/dep-sick'))).toEqual([]);
    expect(await get(v2Url)).toBe('v2');
  });

  it('times out an app that never listens, kills it, and v2 keeps serving', async () => {
    const mute = await deployment('demo', 'dep-mute', `console.log('thinking'); setInterval(() => {}, 1000);`);
    const t0 = Date.now();
    const err = await rolloutError(driver.rollout({ ...mute, settings: { ...mute.settings, healthTimeoutMs: 3000 } }, async () => {}));
    expect(err.reason).toBe('timeout');
    expect(err.outputTail).toContain('thinking');
    expect(Date.now() - t0).toBeLessThan(12_000);
    expect(await processesUnder(path.join(dataDir, 'runtime/apps/demo/dep-mute'))).toEqual([]);
    expect(await get(v2Url)).toBe('v2');
    expect(await statePid('demo')).not.toBe(v1Pid);
  });

  it('returns the app output, and follow yields lines appended later', async () => {
    const lines: string[] = [];
    for await (const e of driver.logs({ appName: 'demo', deploymentId: 'dep-v2' }, { tail: 50, follow: false })) lines.push(e.line);
    expect(lines).toContain('starting v2');

    const ac = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const e of driver.logs({ appName: 'demo', deploymentId: 'dep-v2' }, { tail: 0, follow: true, signal: ac.signal })) {
        seen.push(e.line);
        if (e.line === 'hit /later') ac.abort();
      }
    })();
    // Requests until the follower sees one: it may not have reached the end of the file yet.
    while (!ac.signal.aborted) {
      await fetch(`${v2Url}/later`).then((r) => r.text());
      await Promise.race([following, new Promise((r) => setTimeout(r, 250))]);
    }
    await following;
    expect(seen).toContain('hit /later');
    expect(seen).not.toContain('starting v2');

    const old: string[] = [];
    for await (const e of driver.logs({ appName: 'demo', deploymentId: 'dep-v1' }, { tail: 5, follow: false })) old.push(e.line);
    expect(old).toContain('starting v1');
  });

  it('restore() re-adopts a live process and restarts a killed one', async () => {
    const other = await deployment('other', 'dep-other', appSource('other'));
    await driver.rollout(other, async () => {});
    const demoPid = await statePid('demo');
    const otherPid = await statePid('other');
    process.kill(-otherPid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));

    const broken = await deployment('broken', 'dep-broken', `process.exit(1)`);

    // A control-plane restart: a fresh driver over the same data directory.
    const restarted = newDriver();
    const outcomes = await restarted.restore([v2, other, broken]);
    expect(outcomes.map((o) => o.error)).toEqual([null, null, expect.stringMatching(/^crashed_on_start: /)]);
    expect(outcomes[2]?.url).toBeNull();
    expect(outcomes[0]?.url).toBe(v2Url);
    expect(await statePid('demo')).toBe(demoPid);
    const newOtherPid = await statePid('other');
    expect(newOtherPid).not.toBe(otherPid);
    expect(await get(outcomes[1]?.url as string)).toBe('other');
  });

  it('restore() never signals a process that merely reuses a recorded pid', async () => {
    const ghost = await deployment('ghost', 'dep-ghost', appSource('ghost'));
    // A stranger leading its own process group, with the pid our state file names.
    const stranger = spawn('sleep', ['60'], { cwd: sandbox, detached: true, stdio: 'ignore' });
    stranger.unref();
    const strangerPid = stranger.pid as number;
    await mkdir(path.join(dataDir, 'runtime/state'), { recursive: true });
    const recorded = { ...ghost, pid: strangerPid, port: 9, startedAt: new Date(0).toISOString(), procStart: '1' };
    await writeFile(path.join(dataDir, 'runtime/state/ghost.json'), JSON.stringify(recorded));

    const [outcome] = await newDriver().restore([ghost]);
    expect(outcome?.error).toBeNull();
    expect(await get(outcome?.url as string)).toBe('ghost');
    expect(await statePid('ghost')).not.toBe(strangerPid);
    expect(alive(strangerPid)).toBe(true);
    expect(logged).toContain('runtime: pid reused, nothing to stop');
    process.kill(-strangerPid, 'SIGKILL');
  });

  it('an app outlives the control plane that started it, and is re-adopted after', async () => {
    const solo = await deployment('solo', 'dep-solo', appSource('solo'));
    // A separate control-plane process: it rolls out, prints the url, and exits.
    const script = path.join(sandbox, 'control-plane.mts');
    const driverModule = new URL('../../server/runtime/local.driver.ts', import.meta.url).href;
    await writeFile(
      script,
      [
        `import { createReadStream } from 'node:fs';`,
        `import { createLocalRuntime } from ${JSON.stringify(driverModule)};`,
        `const source = async (key) => createReadStream(${JSON.stringify(store)} + '/' + key);`,
        `const driver = createLocalRuntime({ dataDir: ${JSON.stringify(dataDir)}, source });`,
        `const { url } = await driver.rollout(${JSON.stringify(solo)}, async () => {});`,
        `console.log(JSON.stringify({ url }));`,
      ].join('\n'),
    );
    const out = await new Promise<string>((resolve, reject) => {
      // cwd at the repo root so that `--import tsx` resolves; the apps get their own cwd.
      const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
      const cp = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      cp.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      cp.on('error', reject);
      cp.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`control plane exited ${code}`))));
    });
    const { url } = JSON.parse(out.trim().split('\n').pop() as string) as { url: string };
    expect(await get(url)).toBe('solo');
    const pid = await statePid('solo');

    const [outcome] = await newDriver().restore([solo]);
    expect(outcome?.url).toBe(url);
    expect(await statePid('solo')).toBe(pid);
    await driver.stop('solo'); // not our child: the group still goes
    await expectGroupGone(pid);
  });

  it('stop() ends the app and forgets it', async () => {
    const otherPid = await statePid('other');
    await driver.stop('other');
    expect(alive(otherPid)).toBe(false);
    await expectGroupGone(otherPid);
    expect(existsSync(path.join(dataDir, 'runtime/state/other.json'))).toBe(false);
    await driver.stop('other'); // no-op when nothing runs
  });
});
