import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bashCompletion } from '../../cli/completions';
import { CliError, EXIT } from '../../cli/errors';
import { describeApp, healthText } from '../../cli/lifecycle/describe';
import { waitForHealth, type HealthSource } from '../../cli/lifecycle/wait';
import { buildProgram } from '../../cli/main';
import type { TApp, TDeploymentEvent } from '../../server/contract/outputs';

const ROOT = path.resolve(import.meta.dirname, '../..');

function runSourceCli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/index.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env } as unknown as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const baseApp: TApp = {
  id: '00000000-0000-4000-8000-000000000001',
  name: 'api',
  owner: 'ada',
  team: 'default',
  created_at: '2026-12-05T00:00:00.000Z',
  url: 'http://api.localhost:8080',
  instances: 3,
  health: 'healthy',
  health_message: '1/1 instance ready',
};

const event = (id: number, phase: string, message: string): TDeploymentEvent => ({ id, phase, message, duration_ms: null, created_at: '2026-12-05T00:00:01.000Z' });

/**
 * A control plane played step by step: each poll reads the next scripted app and the events
 * that landed by then (the last step repeats).
 */
function scripted(steps: { app: Partial<TApp>; events?: TDeploymentEvent[] }[]) {
  let i = 0;
  const seenAfter: number[] = [];
  const step = () => steps[Math.min(i, steps.length - 1)]!;
  const src: HealthSource = {
    eventsAfter: async (afterId) => {
      seenAfter.push(afterId);
      return (step().events ?? []).filter((e) => e.id > afterId);
    },
    app: async () => {
      const app = { ...baseApp, ...step().app };
      i++;
      return app;
    },
  };
  return { src, seenAfter };
}

const fastClock = () => {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
};

async function failure(p: Promise<unknown>): Promise<CliError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CliError);
  return err as CliError;
}

describe('waiting for health after a lifecycle change', () => {
  it('ignores the health seen before the job ran, then returns once the job event and healthy are both there', async () => {
    const { src, seenAfter } = scripted([
      { app: { health: 'healthy', instances: 3 } },
      { app: { health: 'restarting' }, events: [event(11, 'scale', 'scaled to 3 instances')] },
      { app: { health: 'healthy', health_message: '3/3 instances ready' }, events: [event(11, 'scale', 'scaled to 3 instances')] },
    ]);
    const progress: (string | null)[] = [];
    const app = await waitForHealth(src, { phase: 'scale', afterId: 10, target: 'healthy', timeoutMs: 60_000, onProgress: (a) => progress.push(a.health), ...fastClock() });
    expect(app.health).toBe('healthy');
    expect(app.health_message).toBe('3/3 instances ready');
    expect(progress).toEqual(['healthy', 'restarting', 'healthy']);
    // Events before the baseline are never read again; after the job's event they are not read at all.
    expect(seenAfter).toEqual([10, 10]);
  });

  it('an event of another phase does not count as the job being done', async () => {
    const { src } = scripted([{ app: { health: 'healthy' }, events: [event(5, 'health', 'healthy: 1/1 instance ready')] }]);
    const err = await failure(waitForHealth(src, { phase: 'restart', afterId: 4, target: 'healthy', timeoutMs: 3000, ...fastClock() }));
    expect(err.exitCode).toBe(EXIT.runtime);
    expect(err.code).toBe('timeout');
    expect(err.message).toBe('api is not healthy after 3s: the change has not been applied yet');
  });

  it('a crash loop ends the wait with exit 20, code crash_loop and the health message', async () => {
    const { src } = scripted([
      { app: { health: 'restarting' }, events: [event(2, 'restart', 'restarted 1 instance')] },
      { app: { health: 'crash_loop', health_message: 'exited with code 1, 5 restarts in 2 minutes' }, events: [event(2, 'restart', 'restarted 1 instance')] },
    ]);
    const err = await failure(waitForHealth(src, { phase: 'restart', afterId: 0, target: 'healthy', timeoutMs: 60_000, ...fastClock() }));
    expect(err.exitCode).toBe(EXIT.runtime);
    expect(err.code).toBe('crash_loop');
    expect(err.message).toBe('api is in a crash loop: exited with code 1, 5 restarts in 2 minutes');
  });

  it('a job that failed ends the wait with its event message', async () => {
    const { src } = scripted([{ app: { health: 'healthy' }, events: [event(8, 'scale', 'scale to 4 instances failed: port exhausted')] }]);
    const err = await failure(waitForHealth(src, { phase: 'scale', afterId: 7, target: 'healthy', timeoutMs: 60_000, ...fastClock() }));
    expect(err.code).toBe('lifecycle_failed');
    expect(err.message).toBe('scale to 4 instances failed: port exhausted');
  });

  it('a stop waits for stopped, and a health that stays degraded times out naming it', async () => {
    const stop = scripted([{ app: { health: 'stopped', instances: 0 }, events: [event(3, 'scale', 'scaled to 0 instances')] }]);
    const app = await waitForHealth(stop.src, { phase: 'scale', afterId: 2, target: 'stopped', timeoutMs: 1000, ...fastClock() });
    expect([app.health, app.instances]).toEqual(['stopped', 0]);

    const degraded = scripted([{ app: { health: 'degraded' }, events: [event(3, 'scale', 'scaled to 2 instances')] }]);
    const err = await failure(waitForHealth(degraded.src, { phase: 'scale', afterId: 2, target: 'healthy', timeoutMs: 5000, ...fastClock() }));
    expect(err.message).toBe('api is not healthy after 5s: health is still degraded');
  });
});

describe('how an app is described', () => {
  it('shows url, instances and health with its message; a stopped or unreported app says so', () => {
    expect(describeApp(baseApp)).toBe(['  url        http://api.localhost:8080', '  instances  3 instances', '  health     healthy (1/1 instance ready)'].join('\n'));
    expect(describeApp({ ...baseApp, url: null, instances: 0, health: 'stopped', health_message: null })).toBe(
      ['  url        -', '  instances  0 (stopped)', '  health     stopped'].join('\n'),
    );
    expect(healthText({ health: null, health_message: null })).toBe('-');
  });
});

describe('lifecycle command line', () => {
  it('scale without --instances, or with a negative or fractional count, is a usage error (exit 2) as one JSON document', async () => {
    for (const args of [['scale'], ['scale', '--instances', '-1'], ['scale', '--instances', '1.5']]) {
      const res = await runSourceCli([...args, '--app', 'api', '--format', 'json']);
      expect(res.code).toBe(EXIT.usage);
      const doc = JSON.parse(res.stdout) as { error: { code: string; message: string } };
      expect(doc.error.code).toBe('usage');
      expect(doc.error.message).toMatch(/--instances <n>/);
    }
  });

  it('each verb reaches the control plane (an unreachable one is exit 40, code network)', async () => {
    const env = { AETHER_API_BASE: 'http://127.0.0.1:1', AETHER_TOKEN: 'x' };
    for (const args of [['scale', '--instances', '2'], ['stop'], ['start'], ['restart'], ['apps', 'get']]) {
      const res = await runSourceCli([...args, '--app', 'api', '--format', 'json'], env);
      expect(res.code, args.join(' ')).toBe(EXIT.network);
      expect((JSON.parse(res.stdout) as { error: { code: string } }).error.code).toBe('network');
    }
  });

  it('completions offer the verbs, their flags and apps get', () => {
    const script = bashCompletion(buildProgram(async () => {}, {}));
    expect(script).toMatch(/"" *\) opts="[^"]* scale stop start restart /);
    expect(script).toContain('"scale") opts="--instances --app --no-wait --timeout --format --help"');
    expect(script).toContain('"stop") opts="--app --no-wait --timeout --format --help"');
    expect(script).toContain('"apps") opts="create get list update delete --help"');
  });

  it('help names --no-wait, --timeout and the health states', async () => {
    const res = await runSourceCli(['restart', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--no-wait');
    expect(res.stdout).toContain('--timeout <secs>');
    expect(res.stdout).toContain('healthy, degraded, restarting, crash_loop, stopped');
  });
});
