import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopStaleHaproxy } from '@/server/runtime/local/router/haproxy/process';
import { recordedPids } from '../support/app-processes';
import { pollUntil } from '../support/poll';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis';
import { assertBuilt, freePort, killLocalApps, ROOT, runCli, startPlaneProcess, type PlaneProcess } from '../support/control-plane-process';

const ADMIN = `e2e-admin-${randomUUID()}`;
const DEPLOYER = `e2e-deployer-${randomUUID()}`;
const READER = `e2e-reader-${randomUUID()}`;

interface DeployJson {
  artifact: string;
  digest: string;
  size_bytes: number;
  manifest: string;
  deployment: { id: string; status: string; url: string | null };
}

/** One control plane on embedded defaults (PGlite, fs storage, local runtime), driven by the built CLI. */
describe('deploy from a laptop to a running app, end to end', () => {
  let work: string;
  let dataDir: string;
  let appDir: string;
  let plane: PlaneProcess;
  let port: number;
  let routerPort: number;
  const prefix = `e2e-${randomUUID()}`;
  let cliEnv: Record<string, string>;

  const planeEnv = () => ({
    AETHER_DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    AETHER_QUEUE_PREFIX: prefix,
    AETHER_API_TOKENS: `${ADMIN}:admin:alice,${DEPLOYER}:deployer:dora,${READER}:reader:rita`,
    AETHER_LOG_LEVEL: 'warn',
    // Fixed across the restarts below: the app's stable URL names the router's port.
    AETHER_ROUTER_PORT: String(routerPort),
  });
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { cwd: appDir, env: { ...cliEnv, ...extra } });
  const deployJson = async () => {
    const run = await cli(['deploy', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as DeployJson;
  };

  const appPid = async (app: string) => {
    const [pid] = await recordedPids(dataDir, app);
    if (pid === undefined) throw new Error(`no instance of ${app} recorded`);
    return pid;
  };
  const isAlive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    assertBuilt();
    work = await mkdtemp(path.join(os.tmpdir(), 'aether-e2e-'));
    dataDir = path.join(work, 'data');
    appDir = path.join(work, 'sample-app');
    await cp(path.join(ROOT, 'tests/fixtures/sample-app'), appDir, { recursive: true });
    // The developer's own install, dev dependency included: deploying must leave it as it is.
    await mkdir(path.join(appDir, 'node_modules/is-number'), { recursive: true });
    await writeFile(path.join(appDir, 'node_modules/is-number/package.json'), '{"name":"is-number","version":"7.0.0"}\n');
    port = await freePort();
    routerPort = await freePort();
    plane = await startPlaneProcess(planeEnv(), port);
    cliEnv = { HOME: os.homedir(), XDG_STATE_HOME: path.join(work, 'state'), XDG_CACHE_HOME: path.join(work, 'cache'), AETHER_API_BASE: plane.url };
  });

  afterAll(async () => {
    await plane?.stop();
    if (dataDir) await killLocalApps(dataDir);
    await deletePrefix(prefix);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('logs in with a token and keeps the session private (0600)', async () => {
    const run = await cli(['login', '--token', DEPLOYER]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('as dora (deployer)');
    const file = path.join(work, 'state', 'aether', 'session.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ token: DEPLOYER, apiBase: plane.url });
  });

  let first: DeployJson;
  it('deploys the sample app (with its npm dependency) and it answers HTTP', async () => {
    first = await deployJson();
    expect(first.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(path.basename(first.artifact)).toBe(`app-${first.digest}.tar.gz`);
    expect(first.deployment.status).toBe('running');
    const body = await (await fetch(first.deployment.url!)).text();
    expect(body).toMatch(/^hello from v1 \(up \d+s\)/);
    // The dev dependency was not installed, so it was not shipped.
    const manifest = JSON.parse(await readFile(first.manifest, 'utf8')) as { files: Array<{ path: string }> };
    expect(manifest.files.some((f) => f.path === 'node_modules/ms/index.js')).toBe(true);
    expect(manifest.files.some((f) => f.path.startsWith('node_modules/is-number'))).toBe(false);
    // Installed beside the project: its node_modules still has the dev dependency, and no ms.
    expect(await readFile(path.join(appDir, 'node_modules/is-number/package.json'), 'utf8')).toContain('7.0.0');
    expect(existsSync(path.join(appDir, 'node_modules/ms'))).toBe(false);
  });

  let second: DeployJson;
  it('redeploys a changed source: the new answer is served and the old process is gone', async () => {
    const oldPid = await appPid('sample-app');
    expect(isAlive(oldPid)).toBe(true);
    await writeFile(path.join(appDir, 'greeting.js'), "module.exports = { greeting: 'hello from v2' };\n");
    second = await deployJson();
    expect(second.digest).not.toBe(first.digest);
    expect(second.deployment.status).toBe('running');
    expect(await (await fetch(second.deployment.url!)).text()).toMatch(/^hello from v2/);
    expect(await appPid('sample-app')).not.toBe(oldPid);
    expect(isAlive(oldPid)).toBe(false);
    const list = await cli(['list', '--format', 'json']);
    const apps = JSON.parse(list.stdout) as Array<{ name: string; current: { id: string; status: string } | null }>;
    expect(apps.find((a) => a.name === 'sample-app')?.current).toMatchObject({ id: second.deployment.id, status: 'running' });
    const history = await fetch(`${plane.url}/api/trpc/deployments.get?input=${encodeURIComponent(JSON.stringify({ id: first.deployment.id }))}`, {
      headers: { authorization: `Bearer ${READER}` },
    });
    expect(((await history.json()) as { result: { data: { status: string } } }).result.data.status).toBe('superseded');
  });

  it('redeploying unchanged bytes gives the same digest and skips the upload', async () => {
    const run = await cli(['deploy', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('production dependencies from the cache');
    expect(run.stderr).not.toContain('installing production dependencies');
    expect(run.stderr).toContain('nothing to upload');
    expect(run.stderr).not.toContain('uploaded');
    const third = JSON.parse(run.stdout) as DeployJson;
    expect(third.digest).toBe(second.digest);
    expect(third.deployment.status).toBe('running');
  });

  it('shows the app in `aether list` and its output in `aether logs`', async () => {
    const list = await cli(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^sample-app\s+default\s+running\s/m);
    const logs = await cli(['logs', '--app', 'sample-app', '--tail', '20']);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/sample-app listening on \d+/);
  });

  it('the logs route refuses bad input with the right code', async () => {
    const get = (q: string, token?: string) => fetch(`${plane.url}${q}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const cases: Array<[string, string | undefined, number, string]> = [
      ['/apps/sample-app/logs', undefined, 401, 'unauthorized'],
      ['/apps/sample-app/logs', 'wrong-token-123', 401, 'unauthorized'],
      ['/apps/ghost/logs', READER, 404, 'not_found'],
      ['/apps/Bad_Name/logs', READER, 400, 'bad_request'],
      ['/apps/sample-app/logs?tail=-5', READER, 400, 'bad_request'],
      ['/apps/sample-app/logs?deployment=not-a-uuid', READER, 400, 'bad_request'],
    ];
    for (const [q, token, status, code] of cases) {
      const res = await get(q, token);
      expect(res.status, q).toBe(status);
      expect(await res.json(), q).toMatchObject({ code });
    }
  });

  it('the portal lists apps and deployments for a signed-in user, and nothing without a session', async () => {
    const anonymous = await (await fetch(plane.url)).text();
    expect(anonymous).toContain('Sign in');
    expect(anonymous).not.toContain('sample-app');
    const asRita = { headers: { cookie: `aether_session=${READER}` } };
    // `/` sends a browser to the console's apps list.
    const list = await (await fetch(plane.url, asRita)).text();
    expect(list).toContain('sample-app');
    expect(list).toContain(second.digest.slice(0, 12));
    expect(list).toMatch(/rita.*reader/);
    // The app page keeps the history: the replaced deployment is there, superseded.
    const app = await (await fetch(`${plane.url}/console/apps/sample-app`, asRita)).text();
    expect(app).toContain(second.digest.slice(0, 12));
    expect(app).toContain('superseded');
  });

  it('serves the REST contract, HEAD fast path and OpenAPI from the production build', async () => {
    const auth = { authorization: `Bearer ${READER}` };
    const apps = await fetch(`${plane.url}/apps`, { headers: auth });
    expect(apps.status).toBe(200);
    expect(((await apps.json()) as Array<{ name: string }>).map((a) => a.name)).toContain('sample-app');
    expect((await fetch(`${plane.url}/artifacts/${second.digest}?app_name=sample-app`, { method: 'HEAD', headers: auth })).status).toBe(200);
    expect((await fetch(`${plane.url}/artifacts/${'0'.repeat(64)}`, { method: 'HEAD', headers: auth })).status).toBe(404);
    const missing = await fetch(`${plane.url}/deployments/${randomUUID()}`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'not_found' });
    const doc = (await (await fetch(`${plane.url}/openapi.json`)).json()) as { security: unknown; paths: Record<string, unknown> };
    expect(doc.security).toEqual([{ bearer_auth: [] }]);
    expect(doc.paths).toHaveProperty(['/artifacts/presign']);
  });

  it('maps failures to the documented exit codes', async () => {
    expect((await cli(['list'], { AETHER_TOKEN: 'definitely-not-a-token' })).code).toBe(10);
    expect((await cli(['deploy', '--app', 'x'], { AETHER_TOKEN: READER })).code).toBe(10);
    expect((await cli(['list'], { AETHER_API_BASE: `http://127.0.0.1:${await freePort()}` })).code).toBe(40);
    expect((await runCli(['deploy'], { cwd: work, env: cliEnv })).code).toBe(2);
    expect((await cli(['deploy', '--no-such-flag'])).code).toBe(2);
  });

  it('counts tRPC calls in the same registry /metrics serves', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${plane.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('aether_trpc_requests_total{procedure="apps.create",code="ok"}'));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const before = await scrape();
    const res = await fetch(`${plane.url}/api/trpc/apps.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `metrics-${Date.now()}` }),
    });
    expect(res.status).toBe(200);
    expect(await scrape()).toBe(before + 1);
  });

  const currentOf = async (app: string) => {
    const apps = JSON.parse((await cli(['list', '--format', 'json'])).stdout) as Array<{ name: string; current: { id: string; url: string } | null }>;
    return apps.find((a) => a.name === app)!.current!;
  };

  it('re-adopts a running app across a control-plane restart (same process, same URL)', async () => {
    const before = await currentOf('sample-app');
    const pid = await appPid('sample-app');
    await plane.stop();
    // Apps outlive the control plane (its router, and so the stable URL, goes down with it).
    expect(isAlive(pid)).toBe(true);
    plane = await startPlaneProcess(planeEnv(), port);
    expect(await currentOf('sample-app')).toEqual(before);
    expect(await appPid('sample-app')).toBe(pid);
    // The router listens again once the restarted plane has re-adopted its apps.
    const text = await pollUntil(() => fetch(before.url).then((r) => (r.ok ? r.text() : ''), () => ''), (t) => t !== '', 30_000);
    expect(text).toMatch(/^hello from v2/);
  });

  it('restarts an app that died while the control plane was down', async () => {
    const before = await currentOf('sample-app');
    await plane.stop();
    await killLocalApps(dataDir);
    await expect(fetch(before.url)).rejects.toThrow();
    plane = await startPlaneProcess(planeEnv(), port);
    const after = await currentOf('sample-app');
    expect(after.id).toBe(before.id);
    const text = await pollUntil(() => fetch(after.url).then((r) => (r.ok ? r.text() : ''), () => ''), (t) => t !== '', 30_000);
    expect(text).toMatch(/^hello from v2/);
  });
});

describe('readiness', () => {
  it('/readyz answers 503 naming Redis when Redis is unreachable, while /healthz stays 200', async () => {
    assertBuilt();
    const work = await mkdtemp(path.join(os.tmpdir(), 'aether-e2e-ready-'));
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const port = await freePort();
    let output = '';
    // `npm start`: the edge answers the probes; Next only serves the portal.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'server/http/main.ts'), '-p', String(port), '-H', '127.0.0.1'], {
      cwd: ROOT,
      // Router port 0: the default 8080 may be a developer's running plane.
      env: { ...process.env, NODE_ENV: 'production', AETHER_DATA_DIR: work, REDIS_URL: deadRedis, AETHER_PUBLIC_URL: `http://127.0.0.1:${port}`, AETHER_LOG_LEVEL: 'error', AETHER_ROUTER_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      let health: Response | null = null;
      for (let i = 0; i < 300 && !health; i++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
        if (!health) await new Promise((r) => setTimeout(r, 200));
      }
      expect(health?.status, output).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'not_ready', checks: { database: 'ok', redis: expect.not.stringMatching(/^ok$/) } });
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      // A SIGKILLed plane cannot stop its router's HAProxy; the pid file it leaves says which.
      await stopStaleHaproxy(path.join(work, 'runtime', 'router-haproxy.pid'));
      await rm(work, { recursive: true, force: true });
    }
  });
});
