import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalRuntime } from '../../server/runtime/local.driver';
import type { SandboxMode } from '../../server/runtime/local/sandbox/mode';
import { RolloutError, type PhaseReport, type RuntimeDeployment, type RuntimeDriver } from '../../server/runtime/port';
import { tarGz, writeArtifact } from '../support/artifacts';
import { runtimeDeployment } from '../support/runtime-deployment';

// Real processes under the real sandbox: the release's config reaches the app as its
// environment, and nowhere else (no argv, no root process, no file, no message).

const IS_ROOT = process.getuid?.() === 0;
const CANARY = `canary-${process.pid}-${Date.now()}-do-not-leak`;
const TRICKY = `it's "quoted", $HOME, \`id\`, $(id) and a\nnewline \\ backslash`;

let work: string;
let store: string;
let hookMarker: string;
const drivers: RuntimeDriver[] = [];
const logged: string[] = [];

const pkg = (scripts: Record<string, string> = { start: 'node index.js' }) => JSON.stringify({ name: 'cfg', version: '1.0.0', scripts });
/** Serves its environment as JSON, on every path. */
const ENV_APP = `require('http').createServer((q, s) => s.end(JSON.stringify(process.env))).listen(process.env.PORT, '127.0.0.1');`;

const probes: Record<SandboxMode, { isRoot: boolean; bwrapWorks: boolean }> = {
  'bwrap-uid': { isRoot: true, bwrapWorks: true },
  uid: { isRoot: true, bwrapWorks: false },
  bwrap: { isRoot: false, bwrapWorks: true },
  none: { isRoot: false, bwrapWorks: false },
};

function newDriver(mode: SandboxMode, dataDir: string, healthTimeoutMs = 15_000): RuntimeDriver {
  const driver = createLocalRuntime({
    dataDir,
    source: async (key) => createReadStream(path.join(store, key)),
    healthTimeoutMs,
    sandbox: { uidRange: { low: 170_000, high: 170_099 } },
    sandboxProbe: () => probes[mode],
    log: (msg, fields) => logged.push(`${msg} ${JSON.stringify(fields ?? {})}`),
    warn: (msg, fields) => logged.push(`${msg} ${JSON.stringify(fields ?? {})}`),
  });
  drivers.push(driver);
  return driver;
}

async function release(appName: string, deploymentId: string, files: Record<string, string>, over: Partial<RuntimeDeployment> = {}): Promise<RuntimeDeployment> {
  const { file, digest } = await writeArtifact(store, tarGz(files));
  return runtimeDeployment({ appName, deploymentId, digest, storageKey: path.basename(file), ...over });
}

async function envOf(url: string): Promise<Record<string, string>> {
  return (await (await fetch(`${url}/`)).json()) as Record<string, string>;
}

interface Proc {
  pid: number;
  uid: number;
  cmdline: string;
  environ: string;
}

async function processes(): Promise<Proc[]> {
  const found: Proc[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const read = (f: string) => readFile(`/proc/${name}/${f}`, 'latin1').catch(() => '');
    const status = await read('status');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    found.push({ pid: Number(name), uid, cmdline: await read('cmdline'), environ: await read('environ') });
  }
  return found;
}

/** Every file under `dir` whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const bytes = await readFile(file).catch(() => Buffer.alloc(0));
    if (bytes.includes(needle)) hits.push(file);
  }
  return hits;
}

async function rolloutError(p: Promise<unknown>): Promise<RolloutError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(RolloutError);
  return err as RolloutError;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'aether-config-'));
  // uid mode: the app reaches its dir by path, through here.
  await chmod(work, 0o711);
  store = path.join(work, 'store');
  // A shell hook that says which uid sourced it: BASH_ENV in the config must never reach bash
  // running as root (the wrapper that joins the cgroups), only the app.
  const hooks = path.join(work, 'hooks');
  await mkdir(hooks, { mode: 0o755 });
  await chmod(hooks, 0o777);
  hookMarker = path.join(hooks, 'sourced-by');
  await writeFile(path.join(hooks, 'hook.sh'), `id -u >> ${hookMarker}\n`, { mode: 0o755 });
});

afterAll(async () => {
  for (const driver of drivers) for (const app of ['env-app', 'start-cmd', 'ready-path', 'slow', 'revive']) await driver.stop(app).catch(() => {});
  // A supervisor may be restarting an instance it saw die just now: retry until it gives up.
  await rm(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
});

const MODES: SandboxMode[] = IS_ROOT ? ['bwrap-uid', 'uid', 'bwrap', 'none'] : ['bwrap', 'none'];

describe.each(MODES)('config as the environment of a local app (sandbox: %s)', (mode) => {
  it('reaches the app as its environment only: not argv, not a root process, not a file, not a message', { timeout: 60_000 }, async () => {
    const dataDir = path.join(work, `data-${mode}`);
    const driver = newDriver(mode, dataDir);
    // More than a pipe's buffer (64 KiB) of config: it is all read.
    const bulk = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`BULK_${i}`, `${i}:${'b'.repeat(1000)}`]));
    const env = {
      PLAIN_VAR: 'plain value',
      API_SECRET: CANARY,
      TRICKY,
      NODE_ENV: 'staging',
      PORT: '1',
      PATH: '/nowhere',
      HOME: '/nowhere',
      npm_config_userconfig: '/nowhere/.npmrc',
      BASH_ENV: path.join(work, 'hooks/hook.sh'),
      ...bulk,
    };
    const d = await release('env-app', `dep-${mode}`, { 'package.json': pkg(), 'index.js': ENV_APP }, { env });
    const phases: PhaseReport[] = [];
    const { url } = await driver.rollout(d, async (p) => void phases.push(p));
    try {
      const seen = await envOf(url);
      expect(seen.PLAIN_VAR).toBe('plain value');
      expect(seen.API_SECRET).toBe(CANARY);
      expect(seen.TRICKY).toBe(TRICKY);
      for (const [k, v] of Object.entries(bulk)) expect(seen[k], k).toBe(v);
      // The driver's own variables win; NODE_ENV is the config's to set.
      expect(seen.NODE_ENV).toBe('staging');
      expect(seen.PORT).toBe(new URL(url).port);
      expect(seen.PATH).not.toBe('/nowhere');
      expect(seen.HOME).not.toBe('/nowhere');
      expect(seen.npm_config_userconfig).toBe('/dev/null');

      const start = phases.find((p) => p.phase === 'start')?.message ?? '';
      expect(start).toMatch(new RegExp(`\\(sandbox: ${mode}\\) with PORT=\\d+ and 109 config variables$`));
      const all = await processes();
      // Not on any command line of any process on this host.
      expect(all.filter((p) => p.cmdline.includes(CANARY)).map((p) => p.pid)).toEqual([]);
      // In the environment of the app's own processes only: never of one running as root.
      const holders = all.filter((p) => p.environ.includes(CANARY));
      expect(holders.length).toBeGreaterThanOrEqual(1);
      if (mode === 'bwrap-uid' || mode === 'uid') {
        const appUid = Number(/ uid (\d+) /.exec(start)?.[1]);
        expect(appUid).toBeGreaterThanOrEqual(170_000);
        for (const p of holders) expect(p.uid, `pid ${p.pid}`).toBe(appUid);
      }
      // Not in any file the runtime keeps (state, logs, the app's dir).
      expect(await filesContaining(dataDir, CANARY)).toEqual([]);
      for (const text of [...phases.map((p) => p.message), ...logged]) expect(text).not.toContain(CANARY);
      // The root wrappers never saw BASH_ENV: nothing running as root sourced the hook.
      const sourcedBy = await readFile(hookMarker, 'utf8').catch(() => '');
      expect(sourcedBy.split('\n').filter((uid) => uid === '0')).toEqual([]);
    } finally {
      await driver.stop('env-app');
    }
  });
});

describe.runIf(IS_ROOT)('release settings and restore on the local driver (sandbox: bwrap-uid)', { timeout: 60_000 }, () => {
  let driver: RuntimeDriver;
  let dataDir: string;
  beforeAll(() => {
    dataDir = path.join(work, 'data-settings');
    driver = newDriver('bwrap-uid', dataDir);
  });

  it('runs the start command through sh -c inside the sandbox instead of npm start', async () => {
    const server = `require('http').createServer((q, s) => s.end(JSON.stringify({ argv: process.argv.slice(2), uid: process.getuid(), cwd: process.cwd(), greeting: process.env.GREETING }))).listen(process.env.PORT, '127.0.0.1');`;
    // No start script and no server.js: npm start would have nothing to run.
    const d = await release('start-cmd', 'dep-1', { 'package.json': pkg({}), 'web.js': server }, {
      env: { GREETING: 'hello' },
      settings: { startCommand: 'exec node web.js --mode "$GREETING"', healthPath: '/', healthTimeoutMs: 15_000 },
    });
    const phases: string[] = [];
    const { url } = await driver.rollout(d, async (p) => void phases.push(p.message));
    const answer = (await (await fetch(url)).json()) as { argv: string[]; uid: number; cwd: string; greeting: string };
    expect(answer).toMatchObject({ argv: ['--mode', 'hello'], cwd: '/app', greeting: 'hello' });
    expect(answer.uid).toBeGreaterThanOrEqual(170_000);
    expect(phases.find((m) => m.startsWith('sh -c'))).toMatch(/^sh -c "exec node web\.js --mode \\"\$GREETING\\"" as pid \d+ uid \d+ \(sandbox: bwrap-uid\) with PORT=\d+ and 1 config variable$/);
  });

  it('checks the release health path: healthy on /ready while / answers 500, failed when the path is /', async () => {
    const server = `require('http').createServer((q, s) => { s.statusCode = q.url === '/ready' ? 200 : 500; s.end(q.url); }).listen(process.env.PORT, '127.0.0.1');`;
    const files = { 'package.json': pkg(), 'index.js': server };
    const atRoot = await release('ready-path', 'dep-root', files, { settings: { startCommand: null, healthPath: '/', healthTimeoutMs: 1500 } });
    const err = await rolloutError(driver.rollout(atRoot, async () => {}));
    expect(err.reason).toBe('health_check_failed');
    expect(err.message).toMatch(/^the app answered only HTTP 500 on port \d+ for 1500 ms$/);

    const atReady = await release('ready-path', 'dep-ready', files, { settings: { startCommand: null, healthPath: '/ready', healthTimeoutMs: 1500 } });
    const phases: PhaseReport[] = [];
    const { url } = await driver.rollout(atReady, async (p) => void phases.push(p));
    expect(phases.find((p) => p.phase === 'health')?.message).toMatch(/^answered HTTP 200 on port \d+ \(GET \/ready\)$/);
    expect((await fetch(`${url}/ready`)).status).toBe(200);
    // A restarted control plane re-adopts it by the same path (it would restart it by `/`).
    const pid = JSON.parse(await readFile(path.join(dataDir, 'runtime/state/ready-path.json'), 'utf8')).instances[0].pid;
    const [outcome] = await newDriver('bwrap-uid', dataDir).restore([atReady]);
    expect(outcome).toEqual({ deploymentId: 'dep-ready', url, error: null });
    expect(JSON.parse(await readFile(path.join(dataDir, 'runtime/state/ready-path.json'), 'utf8')).instances[0].pid).toBe(pid);
  });

  it("gives an app the release's health timeout, not the driver's", async () => {
    // Listens after 2.5 s; the driver's own timeout (15 s) would wait for it.
    const server = `setTimeout(() => require('http').createServer((q, s) => s.end('up')).listen(process.env.PORT, '127.0.0.1'), 2500);`;
    const files = { 'package.json': pkg(), 'index.js': server };
    const hasty = await release('slow', 'dep-hasty', files, { settings: { startCommand: null, healthPath: '/', healthTimeoutMs: 1000 } });
    const t0 = Date.now();
    const err = await rolloutError(driver.rollout(hasty, async () => {}));
    expect(err.reason).toBe('timeout');
    expect(err.message).toMatch(/^the app did not answer HTTP on port \d+ within 1000 ms$/);
    expect(Date.now() - t0).toBeLessThan(2500);
    const patient = await release('slow', 'dep-patient', files, { settings: { startCommand: null, healthPath: '/', healthTimeoutMs: 10_000 } });
    const { url } = await driver.rollout(patient, async () => {});
    expect(await (await fetch(url)).text()).toBe('up');
  });

  it('restore() starts a killed instance again with its config and settings', async () => {
    const d = await release('revive', 'dep-1', { 'package.json': pkg({}), 'web.js': ENV_APP }, {
      env: { API_SECRET: CANARY, PLAIN_VAR: 'again' },
      settings: { startCommand: 'exec node web.js', healthPath: '/', healthTimeoutMs: 15_000 },
    });
    await driver.rollout(d, async () => {});
    const state = path.join(dataDir, 'runtime/state/revive.json');
    const pid = JSON.parse(await readFile(state, 'utf8')).instances[0].pid as number;
    process.kill(-pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));

    const [outcome] = await newDriver('bwrap-uid', dataDir).restore([d]);
    expect(outcome?.error).toBeNull();
    expect(JSON.parse(await readFile(state, 'utf8')).instances[0].pid).not.toBe(pid);
    const seen = await envOf(outcome?.url as string);
    expect(seen).toMatchObject({ API_SECRET: CANARY, PLAIN_VAR: 'again', NODE_ENV: 'production' });
    expect(await filesContaining(dataDir, CANARY)).toEqual([]);
    expect(logged.filter((l) => l.includes(CANARY))).toEqual([]);
  });
});
