import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TDeployment } from '../../server/contract/outputs';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { uploadArtifact } from '../support/upload';
import { diskFillerApp, escaperApp, forkBombApp, memoryHogApp, spyApp, webApp } from './tenant-apps';

// Real apps under the real sandbox, deployed through a real control plane (PGlite in its data
// dir, fs storage with its secret there, workers, local runtime). The test process is root, as
// on these machines and in CI: apps get their own uids, cgroups and bwrap.
const MIB = 1024 ** 2;
const LIMITS = {
  AETHER_APP_MEMORY_LIMIT_BYTES: String(160 * MIB),
  AETHER_APP_PIDS_LIMIT: '64',
  // Its own uids: planes of other test files running at the same time hand out the default range.
  AETHER_APP_UID_RANGE: '160000-160999',
  AETHER_APP_DISK_LIMIT_BYTES: String(16 * MIB),
  AETHER_APP_LIMIT_CHECK_MS: '200',
};

const runningAsRoot = process.getuid?.() === 0;

/** Live (non-zombie) processes of host uid `uid`, from /proc. */
async function processesOf(uid: number): Promise<Array<{ pid: number; comm: string }>> {
  const found: Array<{ pid: number; comm: string }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const field = (key: string) => new RegExp(`^${key}:\\s+(\\S+)`, 'm').exec(status)?.[1];
    if (Number(field('Uid')) === uid && field('State') !== 'Z') found.push({ pid: Number(name), comm: field('Name') ?? '' });
  }
  return found;
}

describe.runIf(runningAsRoot)('a hostile tenant on the local runtime', { timeout: 60_000 }, () => {
  let plane: TestPlane;
  let victim: TDeployment;
  let adminToken: string;
  let storageSecret: string;
  const deployer = () => plane.caller('deployer');
  const reader = () => plane.caller('reader');

  async function deploy(app: string, bytes: Buffer): Promise<TDeployment> {
    const { completed, digest } = await uploadArtifact(plane, app, bytes);
    expect(completed.status).toBe('stored');
    await reader().artifacts.wait({ app_name: app, digest, timeout_ms: 15_000 });
    const { deployment } = await deployer().deployments.create({ app_name: app, digest });
    const done = await pollUntil(() => reader().deployments.get({ id: deployment.id }), (d) => d.status === 'running' || d.status === 'failed', 30_000);
    // A failure shows up in the test's output with the reason its last event gave.
    if (done.status === 'failed') console.error(`${app} failed:`, JSON.stringify(await lastEvent(done)), await logText(done, app).catch(String));
    return done;
  }

  async function logText(d: TDeployment, app: string): Promise<string> {
    const lines: string[] = [];
    for await (const e of plane.services.runtime.logs({ deploymentId: d.id, appName: app }, { tail: 10_000, follow: false })) lines.push(e.line);
    return lines.join('\n');
  }

  async function lastEvent(d: TDeployment) {
    return (await reader().deployments.events({ id: d.id })).at(-1);
  }

  const statePath = (app: string) => path.join(plane.dataDir, 'runtime/state', `${app}.json`);
  /** Instance 0 of the app, as the runtime's state file records it. */
  const stateOf = async (app: string) => (JSON.parse(await readFile(statePath(app), 'utf8')) as { instances: Array<{ pid: number; cgroups: string[] }> }).instances[0]!;

  /** The victim still answers, and so does the control plane, over HTTP and in-process. */
  async function everyoneElseFine(): Promise<void> {
    expect(await (await fetch(victim.url!)).text()).toBe('victim');
    expect((await reader().deployments.get({ id: victim.id })).status).toBe('running');
    const res = await fetch(`${plane.url}/openapi.json`);
    expect(res.status).toBe(200);
  }

  beforeAll(async () => {
    plane = await startTestPlane('pglite', LIMITS);
    plane.startWorkers();
    for (const app of ['victim', 'spy', 'hog', 'bomb', 'filler', 'escaper']) await deployer().apps.create({ name: app });
    // The admin token file `npm run up` keeps in the data dir.
    adminToken = TOKENS.admin;
    await writeFile(path.join(plane.dataDir, 'admin-token'), `${adminToken}\n`, { mode: 0o600 });
    storageSecret = (await readFile(path.join(plane.dataDir, 'storage.secret'), 'utf8')).trim();
    victim = await deploy('victim', webApp('victim', 'victim'));
    expect(victim.status).toBe('running');
    // A fresh PGlite and a first deploy: slow when the machine's cores are busy with other suites.
  }, 120_000);
  afterAll(async () => plane?.close());

  it('keeps the data dir, its secrets and the logs to the control plane', async () => {
    expect((await stat(plane.dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(plane.dataDir, 'storage.secret'))).mode & 0o777).toBe(0o600);
    const log = path.join(plane.dataDir, 'runtime/logs/victim', `${victim.id}.log`);
    expect((await stat(log)).mode & 0o777).toBe(0o600);
    expect((await stat(log)).uid).toBe(0);
  });

  it('runs each app as its own uid, which owns its directory', async () => {
    const uids = JSON.parse(await readFile(path.join(plane.dataDir, 'runtime/state/_uids.json'), 'utf8')) as Record<string, number>;
    expect(uids).toEqual({ victim: 160_000 });
    const dir = await stat(path.join(plane.dataDir, 'runtime/apps/victim', victim.id));
    expect([dir.uid, dir.gid, dir.mode & 0o777]).toEqual([160_000, 160_000, 0o700]);
    const { pid } = await stateOf('victim');
    // The group leader is bwrap (root, privileged, no user namespace); the app below it is the app's uid.
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+0\s/m);
  });

  it('shows the spy nothing of the host, other apps or the control plane, and lets it touch nothing', async () => {
    const { pid: victimPid } = await stateOf('victim');
    const host = {
      dataDir: plane.dataDir,
      victimDir: path.join(plane.dataDir, 'runtime/apps/victim', victim.id),
      victimPid,
      controlPlanePid: process.pid,
    };
    const spy = await deploy('spy', spyApp('spy', host));
    expect(spy.status).toBe('running');
    const text = await logText(spy, 'spy');
    const reportLine = text.split('\n').find((l) => l.startsWith('REPORT '));
    expect(reportLine, text).toBeDefined();
    const r = JSON.parse(reportLine!.slice('REPORT '.length));

    expect(r).toMatchObject({ uid: 160_001, gid: 160_001, home: '/tmp', cwd: '/app' });
    expect(r.limits).toEqual({
      'Max open files': ['4096', '4096'],
      'Max file size': [String(16 * MIB), String(16 * MIB)],
      'Max processes': ['128', '128'],
    });
    expect(r.envKeys.filter((k: string) => /AETHER|DATABASE|REDIS|TOKEN|SECRET|AWS|KUBE|PG/i.test(k))).toEqual([]);
    // Its own pid namespace: bwrap's init (root) as pid 1, then npm, sh and node, all its own uid.
    expect(r.procs['1']).toEqual({ uid: 0, environ: 'EACCES' });
    const others = Object.entries(r.procs as Record<string, { uid: number; environ: string }>).filter(([p]) => p !== '1');
    expect(others.length).toBeGreaterThanOrEqual(2);
    for (const [p, proc] of others) expect(proc, `pid ${p}`).toEqual({ uid: 160_001, environ: 'read' });
    expect(Math.max(...r.pids)).toBeLessThan(20);
    expect(r.pids).not.toContain(process.pid);
    expect(r.pids).not.toContain(victimPid);

    // Walking up from /app reaches the sandbox's root, which holds only the read-only system.
    const systemTops = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'].filter((d) => existsSync(d)).map((d) => d.slice(1));
    expect(r.walk).toEqual([
      ['/app', ['index.js', 'package.json']],
      ['/', ['app', 'dev', 'etc', 'proc', 'tmp', 'usr', ...systemTops].sort()],
    ]);
    const secrets = ['storage.secret', 'admin-token', 'pglite/PG_VERSION', 'runtime/state/_uids.json'];
    expect(r.reads).toEqual({
      ...Object.fromEntries(secrets.map((f) => [path.join(plane.dataDir, f), 'ENOENT'])),
      '/proc/1/root/etc/hostname': 'EACCES',
      '/proc/1/environ': 'EACCES',
      '/etc/shadow': 'EACCES',
    });
    expect(r.lists).toEqual({
      [plane.dataDir]: 'ENOENT',
      [path.join(plane.dataDir, 'runtime/apps')]: 'ENOENT',
      [host.victimDir]: 'ENOENT',
      '/root': 'ENOENT',
      '/home': 'ENOENT',
      '/work': 'ENOENT',
      [`/proc/${victimPid}/cwd`]: 'ENOENT',
    });
    expect(r.writes).toEqual({
      [path.join(host.victimDir, 'pwned')]: 'ENOENT',
      '/usr/pwned': 'EROFS',
      '/etc/pwned': 'EROFS',
      '/tmp/scratch': 'ok',
      '/app/scratch': 'ok',
    });
    expect(r.signals).toEqual({ victim: 'ESRCH', 'victim group': 'ESRCH', 'control plane': 'ESRCH', 'sandbox init': 'EPERM' });
    expect(existsSync(path.join(host.victimDir, 'pwned'))).toBe(false);

    // Everything it printed is readable by log readers: none of the control plane's secrets is in it.
    for (const secret of [storageSecret, adminToken, TOKENS.deployer, TOKENS.reader, 'redis://']) expect(text).not.toContain(secret);
    expect(text).toContain('DUMP environ 1 "EACCES"');
    // Its pid 1 is bwrap, whose options (host paths, mounts) came through a pipe, not its argv.
    const initCmdline = JSON.parse(text.split('\n').find((l) => l.startsWith('DUMP cmdline 1 '))!.slice('DUMP cmdline 1 '.length)) as string;
    expect(initCmdline.split('\0').slice(0, 4)).toEqual([expect.stringMatching(/\/bwrap$/), '--args', '3', '--']);
    expect(initCmdline).not.toContain(plane.dataDir);
    await everyoneElseFine();
  });

  it('stops a memory hog at its cgroup limit while it starts, with a limit_exceeded event', async () => {
    const hog = await deploy('hog', memoryHogApp('hog'));
    expect(hog).toMatchObject({ status: 'failed', failure_reason: 'limit_exceeded' });
    const event = await lastEvent(hog);
    expect(event?.phase).toBe('failed');
    expect(event?.message.split('\n')[0]).toBe(
      'limit_exceeded: the app was stopped: memory limit of 160 MiB reached: the kernel killed a process of the app (out of memory)',
    );
    expect(existsSync(statePath('hog'))).toBe(false);
    await everyoneElseFine();
  });

  /** The app's health events (recorded from the runtime's reports, not the rollout's health phase), oldest first. */
  async function healthEvents(d: TDeployment) {
    const events = await reader().deployments.events({ id: d.id });
    return events.map((e) => e.message.split('\n')[0]!).filter((m) => /^(healthy|degraded|restarting|crash_loop|stopped): /.test(m));
  }

  it('stops a running fork bomb at its pids limit, removes its cgroups, and restarts it, the limit named', async () => {
    const bomb = await deploy('bomb', forkBombApp('bomb'));
    expect(bomb.status).toBe('running');
    const { cgroups } = await stateOf('bomb');
    expect(cgroups.map((d) => path.basename(d))).toEqual([`bomb_${bomb.id}_0`, `bomb_${bomb.id}_0`, `bomb_${bomb.id}_0`]);
    const control = (hierarchy: string, file: string) => readFile(path.join(cgroups.find((d) => d.includes(`/${hierarchy}/`))!, file), 'utf8');
    expect(await control('pids', 'pids.max')).toBe('64\n');
    expect(await control('memory', 'memory.limit_in_bytes')).toBe(`${160 * MIB}\n`);
    expect([await control('cpu', 'cpu.cfs_quota_us'), await control('cpu', 'cpu.cfs_period_us')]).toEqual(['100000\n', '100000\n']);
    await fetch(`${bomb.url}/bomb`);
    // A limit kill is an exit like any other: the instance restarts, the deployment keeps running.
    const events = await pollUntil(() => healthEvents(bomb), (e) => e.length >= 2, 30_000);
    expect(events.slice(0, 2)).toEqual([
      'restarting: instance 0 exited (stopped at a limit: process limit of 64 reached: the app tried to run more processes (fork bomb?)); restarting in 1 s',
      'healthy: instance 0 restarted: all 1 instance ready',
    ]);
    expect((await reader().deployments.get({ id: bomb.id })).status).toBe('running');
    for (const dir of cgroups) expect(existsSync(dir), dir).toBe(false);
    expect(await (await fetch(bomb.url!)).text()).toBe('ok');
    await plane.services.runtime.stop('bomb');
    await everyoneElseFine();
  });

  it('stops a running app that fills its disk past the limit, and says so in its health', async () => {
    const filler = await deploy('filler', diskFillerApp('filler'));
    expect(filler.status).toBe('running');
    await fetch(`${filler.url}/fill`);
    const events = await pollUntil(() => healthEvents(filler), (e) => e.length >= 1, 30_000);
    expect(events[0]).toBe("restarting: instance 0 exited (stopped at a limit: disk limit of 16 MiB reached by the app's directory); restarting in 1 s");
    // Its files stay in its tree until it is stopped: then the disk is given back.
    await plane.services.runtime.stop('filler');
    expect(existsSync(path.join(plane.dataDir, 'runtime/apps/filler', filler.id))).toBe(false);
    await everyoneElseFine();
  });

  it('stops an app entirely, also what it started in a session of its own', async () => {
    const escaper = await deploy('escaper', escaperApp('escaper'));
    expect(escaper.status).toBe('running');
    const uids = JSON.parse(await readFile(path.join(plane.dataDir, 'runtime/state/_uids.json'), 'utf8')) as Record<string, number>;
    const uid = uids.escaper!;
    expect(await (await fetch(escaper.url!)).text()).toMatch(/^escaper \d+$/);
    const before = await processesOf(uid);
    expect(before.some((p) => p.comm === 'sleep')).toBe(true);
    await plane.services.runtime.stop('escaper');
    expect(await pollUntil(() => processesOf(uid), (ps) => ps.length === 0, 5000)).toEqual([]);
    await everyoneElseFine();
  });

  it('gives an app the same uid on its next deploy, and removes the replaced instance\'s cgroups', async () => {
    const { cgroups: old } = await stateOf('victim');
    expect(old.map((d) => path.basename(d))).toEqual([`victim_${victim.id}_0`, `victim_${victim.id}_0`, `victim_${victim.id}_0`]);
    expect(old.every((dir) => existsSync(dir))).toBe(true);
    const v2 = await deploy('victim', webApp('victim', 'victim'));
    expect(v2.status).toBe('running');
    for (const dir of old) expect(existsSync(dir), dir).toBe(false);
    const dir = await stat(path.join(plane.dataDir, 'runtime/apps/victim', v2.id));
    expect(dir.uid).toBe(160_000);
    victim = v2;
    const uids = JSON.parse(await readFile(path.join(plane.dataDir, 'runtime/state/_uids.json'), 'utf8')) as Record<string, number>;
    expect(uids).toEqual({ victim: 160_000, spy: 160_001, hog: 160_002, bomb: 160_003, filler: 160_004, escaper: 160_005 });
    await everyoneElseFine();
  });
});
