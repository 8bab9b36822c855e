import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, type CliRun } from '../support/control-plane-process';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { createScratchDatabase, PG_ADMIN_URL } from '../support/pg';
import { startTcpForwarder, type TcpForwarder } from '../support/tcp-forwarder';

const APP = 'patient';
const WAITING = /control plane unavailable \([^)]*database[^)]*\): retrying in \d+(\.\d)?s \(attempt (\d+)\)/g;

/**
 * The bundled CLI against a control plane whose PostgreSQL sits behind a TCP forwarder: cutting
 * the link is a real database outage, answered 503 `service_unavailable`. Idempotent calls wait
 * it out, saying so on stderr; the rest fail at once.
 */
describe('aether waits out an unavailable control plane', { timeout: 120_000 }, () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let link: TcpForwarder;
  let plane: TestPlane;
  let work: string;
  const logs: string[] = [];

  /** Runs the CLI and resolves with its result and how long it ran. */
  const aether = async (args: string[], extra: Record<string, string> = {}): Promise<CliRun & { ms: number }> => {
    const env = {
      HOME: work,
      XDG_STATE_HOME: path.join(work, 'state'),
      XDG_CONFIG_HOME: path.join(work, 'config'),
      AETHER_API_BASE: plane.url,
      AETHER_TOKEN: TOKENS.deployer,
    };
    const started = performance.now();
    const run = await runCli(args, { cwd: work, env: { ...env, ...extra } });
    return { ...run, ms: performance.now() - started };
  };
  const attempts = (stderr: string) => [...stderr.matchAll(WAITING)].map((m) => Number(m[2]));

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('build the CLI first: node scripts/build-cli.mjs');
    work = await mkdtemp(path.join(os.tmpdir(), 'aether-cli-retry-'));
    scratch = await createScratchDatabase();
    const pg = new URL(PG_ADMIN_URL);
    link = await startTcpForwarder({ host: pg.hostname, port: Number(pg.port || 5432) });
    // The kind is moot here: DATABASE_URL, through the forwarder, names the database.
    plane = await startTestPlane('pglite', { DATABASE_URL: link.url(scratch.url) }, { logLine: (l) => logs.push(l) });
    await plane.caller('admin').apps.create({ name: APP });
  });

  afterAll(async () => {
    link?.restore();
    await plane?.close();
    await link?.close();
    await scratch?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a query retries while the database is cut and succeeds once it is back, stdout still one JSON document', async () => {
    link.cut();
    const running = aether(['list', '--format', 'json']);
    await new Promise((r) => setTimeout(r, 3_000));
    link.restore();
    const res = await running;
    expect(res.code, res.stderr).toBe(0);
    expect(res.ms).toBeGreaterThanOrEqual(3_000);
    expect((JSON.parse(res.stdout) as Array<{ name: string }>).map((a) => a.name)).toContain(APP);
    // One line per wait, numbered from the second attempt on.
    const said = attempts(res.stderr);
    expect(said.length, res.stderr).toBeGreaterThanOrEqual(1);
    expect(said).toEqual(said.map((_, i) => i + 2));
  });

  it('gives up when the budget (AETHER_RETRY_MAX_SECS) is spent: exit 40, saying how long it waited', async () => {
    link.cut();
    try {
      const res = await aether(['apps', 'get', '--app', APP, '--format', 'json'], { AETHER_RETRY_MAX_SECS: '3' });
      expect(res.code, res.stderr).toBe(40);
      expect(res.ms).toBeGreaterThanOrEqual(3_000);
      expect(res.ms).toBeLessThan(20_000);
      expect(attempts(res.stderr).length).toBeGreaterThanOrEqual(1);
      const { error } = JSON.parse(res.stdout) as { error: { code: string; message: string } };
      expect(error.code).toBe('service_unavailable');
      expect(error.message).toMatch(/database.*; still unavailable after \d+s \(\d+ attempts\)$/);
      expect(res.stderr).toMatch(/AETHER_RETRY_MAX_SECS/);
    } finally {
      link.restore();
    }
  });

  it('a mutation that is not safe to repeat (config set) is sent once and fails at once', async () => {
    link.cut();
    try {
      const res = await aether(['config', 'set', 'MODE=patient', '--app', APP, '--no-deploy', '--format', 'json'], {
        AETHER_RETRY_MAX_SECS: '30',
      });
      expect(res.code, res.stderr).toBe(40);
      expect(res.ms).toBeLessThan(10_000);
      expect(res.stderr).not.toMatch(/retrying in/);
      expect((JSON.parse(res.stdout) as { error: { code: string } }).error.code).toBe('service_unavailable');
    } finally {
      link.restore();
    }
  });

  it('AETHER_RETRY_MAX_SECS=0 turns waiting off; a bad value is a config error', async () => {
    link.cut();
    try {
      const off = await aether(['list', '--format', 'json'], { AETHER_RETRY_MAX_SECS: '0' });
      expect(off.code, off.stderr).toBe(40);
      expect(off.stderr).not.toMatch(/retrying in/);
    } finally {
      link.restore();
    }
    const bad = await aether(['list'], { AETHER_RETRY_MAX_SECS: 'soon' });
    expect(bad.code).toBe(10);
    expect(bad.stderr).toMatch(/AETHER_RETRY_MAX_SECS/);
  });
});
