import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, startE2EWorkspace, type CliRun } from '../support/control-plane-process';
import { startTestPlane, TOKENS } from '../support/harness';

interface Plane {
  url: string;
  deployer: string;
  reader: string;
  close(): Promise<void>;
}

/**
 * The production build (`next start`, what users run). AETHER_E2E_IN_PROCESS=1 serves the same
 * handlers from the test harness instead, to run this file without a Next build; the CLI is
 * always the real bundle in its own process.
 */
async function startPlane(): Promise<Plane> {
  if (process.env.AETHER_E2E_IN_PROCESS === '1') {
    const plane = await startTestPlane('postgres');
    const workers = plane.startWorkers();
    return { url: plane.url, deployer: TOKENS.deployer, reader: TOKENS.reader, close: async () => (await workers.stop(), plane.close()) };
  }
  const deployer = `e2e-deployer-${randomUUID()}`;
  const reader = `e2e-reader-${randomUUID()}`;
  const ws = await startE2EWorkspace('lifecycle', [`${deployer}:deployer:dora`, `${reader}:reader:rita`]);
  return { url: ws.plane.url, deployer, reader, close: () => ws.close() };
}

/** A dependency-free app: answers its version, logs every request, or crashes on start. */
function appSource(version: string, crash = false): string {
  if (crash) return `console.log('booting ${version}'); console.error('fatal: config missing in ${version}'); process.exit(1);\n`;
  return [
    `const http = require('node:http');`,
    `http.createServer((q, s) => { console.log('${version} served ' + q.url); s.end('${version}'); })`,
    `  .listen(Number(process.env.PORT), '127.0.0.1', () => console.log('${version} listening'));`,
  ].join('\n');
}

interface DeploymentJson {
  id: string;
  status: string;
  url: string | null;
  rollback_of?: string | null;
}

describe('deploy, break, roll back and read logs with the CLI on the local runtime', { timeout: 180_000 }, () => {
  let plane: Plane;
  let work: string;
  let project: string;
  let env: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> => runCli(args, { cwd: project, env: { ...env, ...extra } });
  const writeApp = (version: string, crash = false) => writeFile(path.join(project, 'index.js'), appSource(version, crash));
  const deploy = async (): Promise<DeploymentJson> => {
    const run = await cli(['deploy', '--no-install', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    return (JSON.parse(run.stdout) as { deployment: DeploymentJson }).deployment;
  };
  const status = async (id: string) => {
    const run = await cli(['status', id, '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as DeploymentJson & { events: Array<{ phase: string; message: string; duration_ms: number | null }> };
  };
  const answer = async (url: string | null) => (await fetch(url!)).text();

  beforeAll(async () => {
    plane = await startPlane();
    work = await mkdtemp(path.join(os.tmpdir(), 'aether-e2e-lifecycle-'));
    project = path.join(work, 'lifecycle');
    await mkdir(project);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'lifecycle', version: '1.0.0', scripts: { start: 'node index.js' } }));
    env = { HOME: os.homedir(), XDG_CACHE_HOME: path.join(work, 'cache'), AETHER_API_BASE: plane.url, AETHER_TOKEN: plane.deployer };
  });

  afterAll(async () => {
    await plane?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  let v1: DeploymentJson;
  let v2: DeploymentJson;
  it('deploys v1, then redeploys v2 which replaces it', async () => {
    await writeApp('v1');
    v1 = await deploy();
    expect(v1.status).toBe('running');
    expect(await answer(v1.url)).toBe('v1');
    await writeApp('v2');
    v2 = await deploy();
    expect(v2.status).toBe('running');
    expect(await answer(v2.url)).toBe('v2');
    expect((await status(v1.id)).status).toBe('superseded');
    // One stable address: v1's URL is the app's, and it now serves v2.
    expect(v2.url).toBe(v1.url);
    expect(await answer(v1.url)).toBe('v2');
  });

  it('a build that crashes on start fails with why and its output, and v2 keeps answering', async () => {
    await writeApp('v3', true);
    const run = await cli(['deploy', '--no-install']);
    expect(run.code).toBe(20);
    expect(run.stderr).toContain('deployment failed: crashed_on_start');
    expect(await answer(v2.url)).toBe('v2');
    const list = JSON.parse((await cli(['list', '--format', 'json'])).stdout) as Array<{ name: string; current: DeploymentJson; latest: DeploymentJson }>;
    const app = list.find((a) => a.name === 'lifecycle')!;
    expect(app.current.id).toBe(v2.id);
    expect(app.latest.status).toBe('failed');
    const failed = await status(app.latest.id);
    expect(failed.events.at(-1)?.message).toMatch(/^crashed_on_start: the app exited \(code 1\)/);
    expect(failed.events.at(-1)?.message).toContain('fatal: config missing in v3');
    const text = await cli(['status', app.latest.id]);
    expect(text.stdout).toContain('fatal: config missing in v3');
  });

  it('follows logs live: a line the app prints after the follow started arrives', async () => {
    const child = spawn(process.execPath, [CLI, 'logs', '--app', 'lifecycle', '--follow', '--tail', '0', '--format', 'json'], {
      cwd: project,
      env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!stdout.includes('/live-') && Date.now() < deadline) {
      await fetch(`${v2.url}/live-${Date.now()}`).then((r) => r.text());
      await new Promise((r) => setTimeout(r, 300));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const entries = stdout.trim().split('\n').map((l) => JSON.parse(l) as { time: string; source: string; line: string });
    expect(entries.some((e) => /^v2 served \/live-\d+$/.test(e.line) && e.source === 'app' && !Number.isNaN(Date.parse(e.time)))).toBe(true);
    expect(entries.some((e) => e.line === 'v2 listening')).toBe(false);
  });

  let back: DeploymentJson;
  it('rolls back with the CLI: v1 answers again, v2 is rolled_back', async () => {
    const refused = await cli(['rollback', '--app', 'lifecycle']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('without --yes');

    const run = await cli(['rollback', '--app', 'lifecycle', '--yes', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    back = (JSON.parse(run.stdout) as { deployment: DeploymentJson }).deployment;
    expect(back).toMatchObject({ status: 'running', rollback_of: v1.id });
    expect(await answer(back.url)).toBe('v1');
    expect((await status(v2.id)).status).toBe('rolled_back');
    expect((await status(back.id)).status).toBe('running');
    expect(back.url).toBe(v2.url);
    expect(await answer(v2.url)).toBe('v1');

    // v1's artifact runs now and v2 was rolled back: nothing further to go back to by default.
    const again = await cli(['rollback', '--app', 'lifecycle', '--yes']);
    expect(again.code).toBe(20);
    expect(again.stderr).toContain('nothing to roll back to');
  });

  it('reads the logs of v2 after it was replaced, with timestamps', async () => {
    const run = await cli(['logs', '--app', 'lifecycle', '--deployment', v2.id, '--tail', '500', '--timestamps']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z v2 listening$/m);
    expect(run.stdout).toMatch(/v2 served \/live-\d+$/m);
    const current = await cli(['logs', '--app', 'lifecycle', '--tail', '50', '--since', '10m']);
    expect(current.stdout).toContain('v1 listening');
    expect(current.stdout).not.toContain('v2');
  });
});
