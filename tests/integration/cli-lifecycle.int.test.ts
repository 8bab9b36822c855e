import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarGz } from '../support/artifacts';
import { CLI } from '../support/control-plane-process';
import { envAppArtifact, storeArtifact } from '../support/env-app';
import { suitePlane, TOKENS, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The bundled CLI as a user runs it. */
function aether(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

type AppDoc = { name: string; url: string | null; instances: number; health: string | null; health_message: string | null };
type Failure = { app?: AppDoc; error: { code: string; message: string } };

/** Listens only after 3 s, so its first rollout stays in flight long enough to be raced. */
const slowStart = tarGz({
  'package.json': JSON.stringify({ name: 'slow', scripts: { start: 'node index.js' } }),
  'index.js': "setTimeout(() => require('http').createServer((q, s) => s.end('up')).listen(process.env.PORT, '127.0.0.1'), 3000);",
});

/** Healthy until asked to die: GET /crash exits 1, so the test decides when each crash happens. */
const crashOnDemand = tarGz({
  'package.json': JSON.stringify({ name: 'crashy', scripts: { start: 'node index.js' } }),
  'index.js': "require('http').createServer((q, s) => { if (q.url === '/crash') process.exit(1); s.end('up'); }).listen(process.env.PORT, '127.0.0.1');",
});

/**
 * aether scale / stop / start / restart / apps get / list, from the bundled CLI against a real
 * control plane whose workers run the lifecycle jobs on the local runtime: exit codes, the one
 * JSON document, the waited-for health, and the list's HEALTH and INSTANCES columns.
 */
describe('aether scale, stop, start and restart against a real control plane', { timeout: 180_000 }, () => {
  const plane = suitePlane('pglite', { AETHER_MAX_INSTANCES: '3' });
  let env: Record<string, string>;
  let home: string;
  let stableUrl: string;
  const cli = (args: string[], token: string = TOKENS.deployer) => aether(args, { ...env, AETHER_TOKEN: token });
  const json = <T>(run: Run) => JSON.parse(run.stdout) as T;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`build the CLI first (npm run build:cli); missing ${CLI}`);
    home = await mkdtemp(path.join(os.tmpdir(), 'aether-cli-lifecycle-'));
    env = { HOME: home, XDG_STATE_HOME: path.join(home, 'state'), XDG_CACHE_HOME: path.join(home, 'cache'), XDG_CONFIG_HOME: path.join(home, 'config'), AETHER_API_BASE: plane().url };
    const p: TestPlane = plane();
    p.startWorkers();
    await p.caller('deployer').apps.create({ name: 'svc' });
    const digest = await storeArtifact(p, 'svc', envAppArtifact());
    const { deployment } = await p.caller('deployer').deployments.create({ app_name: 'svc', digest });
    let running = await p.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    if (running.status === 'pending' || running.status === 'rolling_out') running = await p.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(running.status, running.failure_reason ?? '').toBe('running');
    // Never deployed: every verb has nothing to act on.
    await p.caller('deployer').apps.create({ name: 'idle' });
  });
  afterAll(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('scale --instances 2 waits until healthy and prints the app as one JSON document', async () => {
    const run = await cli(['scale', '--instances', '2', '--app', 'svc', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const { app } = json<{ app: AppDoc }>(run);
    expect(app).toMatchObject({ name: 'svc', instances: 2, health: 'healthy' });
    // The app's stable address; every later command must show the same one.
    expect(app.url).toMatch(/^http:\/\/[a-z0-9.-]+:\d+$/);
    stableUrl = app.url!;
    expect(run.stderr).toContain('waiting for svc to be healthy');
  });

  it('list shows STATUS, HEALTH and INSTANCES apart, and the stable URL', async () => {
    const text = await cli(['list']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^APP\s+TEAM\s+STATUS\s+HEALTH\s+INSTANCES\s+DIGEST\s+URL\s+DEPLOYED\s+LATEST$/);
    const row = text.stdout.split('\n').find((l) => l.startsWith('svc '))!;
    expect(row).toMatch(/^svc\s+default\s+running\s+healthy\s+2\s+[0-9a-f]{12}\s+(\S+)\s/);
    expect(row.split(/\s+/)[6]).toBe(stableUrl);
    const listed = json<AppDoc[]>(await cli(['list', '--format', 'json']));
    expect(listed.map((a) => [a.name, a.instances, a.health, a.url])).toEqual([
      ['idle', 1, null, null],
      ['svc', 2, 'healthy', stableUrl],
    ]);
    // Nothing deployed: no status, no health report yet, the default count, no URL.
    expect(text.stdout).toMatch(/^idle\s+default\s+not running\s+-\s+1\s+-\s+-\s/m);
  });

  it('an app with no running release refuses every verb: conflict, exit 20, the server message in one JSON document', async () => {
    const cases: [string[], string, string][] = [
      [['scale', '--instances', '2'], 'scaling', 'scale'],
      [['stop'], 'stopping', 'stop'],
      [['start'], 'starting', 'start'],
      [['restart'], 'restarting', 'restart'],
    ];
    for (const [args, doing, verb] of cases) {
      const res = await cli([...args, '--app', 'idle', '--format', 'json']);
      expect(res.code, args[0]).toBe(20);
      expect(json<Failure>(res)).toEqual({ error: { code: 'conflict', message: `${doing} idle: app "idle" has no running release to ${verb}: deploy it first (conflict)` } });
    }
    const text = await cli(['restart', '--app', 'idle']);
    expect(text.code).toBe(20);
    expect(text.stdout).toBe('');
    expect(text.stderr).toContain('app "idle" has no running release to restart: deploy it first');

    const got = await cli(['apps', 'get', '--app', 'idle']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe(['app idle in team default (owner deployer-user)', '  url        -', '  instances  1 instance', '  health     -', '  deployment none yet', ''].join('\n'));
    const unknown = await cli(['stop', '--app', 'ghost', '--format', 'json']);
    expect(unknown.code).toBe(20);
    expect(json<Failure>(unknown).error.code).toBe('not_found');
  });

  it('past max_instances the scale is refused: exit 20, quota_exceeded with the limit, nothing changed', async () => {
    const run = await cli(['scale', '--instances', '4', '--app', 'svc', '--format', 'json']);
    expect(run.code).toBe(20);
    expect(json<Failure>(run).error).toEqual({ code: 'quota_exceeded', message: 'scaling svc: app "svc" may run at most 3 instances (max_instances 3); asked for 4 (quota_exceeded)' });
    expect(json<{ app: AppDoc }>(await cli(['apps', 'get', '--app', 'svc', '--format', 'json'])).app.instances).toBe(2);
  });

  it('a reader may not stop the app (exit 10, forbidden)', async () => {
    const run = await cli(['stop', '--app', 'svc', '--format', 'json'], TOKENS.reader);
    expect(run.code).toBe(10);
    expect(json<Failure>(run).error.code).toBe('forbidden');
  });

  it('stop waits for stopped; restart of a stopped app is a conflict; start brings 2 instances back healthy', async () => {
    const stop = await cli(['stop', '--app', 'svc']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout.split('\n').slice(0, 3)).toEqual(['stopped svc', `  url        ${stableUrl}`, '  instances  0 (stopped)']);
    expect(stop.stdout).toMatch(/^ {2}health {5}stopped/m);

    const restart = await cli(['restart', '--app', 'svc', '--format', 'json']);
    expect(restart.code).toBe(20);
    expect(json<Failure>(restart).error.code).toBe('conflict');

    const start = await cli(['start', '--app', 'svc', '--format', 'json']);
    expect(start.code, start.stderr).toBe(0);
    expect(json<{ app: AppDoc }>(start).app).toMatchObject({ instances: 2, health: 'healthy', url: stableUrl });
  });

  it('restart replaces the instances and ends healthy; apps get shows health apart from the deployment status', async () => {
    const restart = await cli(['restart', '--app', 'svc']);
    expect(restart.code, restart.stderr).toBe(0);
    expect(restart.stdout.split('\n')[0]).toBe('restarted svc (2 instances)');
    expect(restart.stdout).toMatch(/^ {2}health {5}healthy/m);

    const got = await cli(['apps', 'get', '--app', 'svc']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain(`  url        ${stableUrl}`);
    expect(got.stdout).toContain('  instances  2 instances');
    expect(got.stdout).toMatch(/^ {2}health {5}healthy/m);
    expect(got.stdout).toMatch(/^ {2}deployment running [0-9a-f-]{36} \([0-9a-f]{12}\)$/m);

    // The running deployment's status view carries the app's health beside the rollout's status.
    const { latest_deployment: latest } = json<{ latest_deployment: { id: string } }>(await cli(['apps', 'get', '--app', 'svc', '--format', 'json']));
    const status = await cli(['status', latest.id]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^ {2}status {3}running\n/m);
    expect(status.stdout).toMatch(/^ {2}health {3}healthy( \(.+\))?, 2 instances$/m);
    const statusDoc = json<{ status: string; app_health: { health: string; instances: number } }>(await cli(['status', latest.id, '--format', 'json']));
    expect(statusDoc).toMatchObject({ status: 'running', app_health: { health: 'healthy', instances: 2 } });
  });

  it('--no-wait returns the accepted change at once', async () => {
    const run = await cli(['scale', '--instances', '1', '--app', 'svc', '--no-wait', '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    expect(json<{ app: AppDoc }>(run).app.instances).toBe(1);
    expect(run.stderr).not.toContain('waiting for');
  });

  it('a crash loop ends the wait: exit 20, the app as last seen with error crash_loop and the health message', async () => {
    const p = plane();
    await p.caller('deployer').apps.create({ name: 'crashy' });
    const { digest } = await uploadArtifact(p, 'crashy', crashOnDemand);
    const { deployment } = await p.caller('deployer').deployments.create({ app_name: 'crashy', digest });
    const running = await p.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(running.status).toBe('running');
    // Five restarts within the window make a crash loop; each crash waits for the instance to be back.
    const deadline = Date.now() + 90_000;
    while ((await p.caller('reader').apps.get({ app_name: 'crashy' })).health !== 'crash_loop') {
      if (Date.now() > deadline) throw new Error('crashy never reached crash_loop');
      const up = await fetch(running.url!).then((r) => r.ok, () => false);
      if (up) await fetch(new URL('/crash', running.url!)).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }

    const run = await cli(['scale', '--instances', '1', '--app', 'crashy', '--format', 'json']);
    expect(run.code).toBe(20);
    const doc = json<Failure>(run);
    expect(doc.app).toMatchObject({ name: 'crashy', instances: 1, health: 'crash_loop' });
    expect(doc.error).toEqual({ code: 'crash_loop', message: `crashy is in a crash loop: ${doc.app!.health_message}` });
    expect(doc.app!.health_message).toBeTruthy();
    const text = await cli(['restart', '--app', 'crashy']);
    expect(text.code).toBe(20);
    expect(text.stderr).toContain('crashy is in a crash loop: ');
    expect(text.stdout).toMatch(/^ {2}health {5}crash_loop/m);
  });

  it('a deployment in flight refuses a scale with a conflict naming it', async () => {
    const p = plane();
    await p.caller('deployer').apps.create({ name: 'slow' });
    const { digest } = await uploadArtifact(p, 'slow', slowStart);
    const { deployment } = await p.caller('deployer').deployments.create({ app_name: 'slow', digest });
    const raced = await cli(['scale', '--instances', '2', '--app', 'slow', '--format', 'json']);
    expect(raced.code).toBe(20);
    const { error } = json<Failure>(raced);
    expect(error.code).toBe('conflict');
    expect(error.message).toMatch(new RegExp(`^scaling slow: deployment ${deployment.id} of app "slow" is (pending|rolling_out); scale once it settles \\(conflict\\)$`));
    // Settled before the plane closes, so no rollout is cut short.
    expect((await p.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 })).status).toBe('running');
  });
});
