import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../support/pg';
import { ROOT, readYaml } from '../support/packaging';
import { TEST_REDIS_URL, deletePrefix } from '../support/redis';

/**
 * The image's non-default commands (the chart's worker and migration Job, compose's worker and
 * migrate), run here as the image runs them: `node --import tsx <script>` from the app root,
 * against the real PostgreSQL and Redis.
 */
const compose = readYaml<{ services: Record<string, { command: string[] }> }>('docker-compose.yml');
const MIGRATE = compose.services.migrate!.command;
const WORKER = compose.services.worker!.command;

interface Exit {
  code: number | null;
  output: string;
}
function start(argv: string[], env: Record<string, string>) {
  const [cmd, ...args] = argv;
  // Only what the image or the chart would set: no developer environment leaks in.
  const child = spawn(cmd === 'node' ? process.execPath : cmd!, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, NODE_ENV: 'production', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code) => resolve({ code, output })));
  return { child, exited, output: () => output };
}

describe('the commands the image runs besides the web server', () => {
  let db: Awaited<ReturnType<typeof createScratchDatabase>>;
  let dataDir: string;
  const prefix = `pack-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    db = await createScratchDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'aether-cmd-'));
  });
  afterAll(async () => {
    await deletePrefix(prefix);
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('migrate: two concurrent runs (an upgrade racing a restart) both succeed and apply each migration once', async () => {
    const runs = await Promise.all([start(MIGRATE, { DATABASE_URL: db.url }).exited, start(MIGRATE, { DATABASE_URL: db.url }).exited]);
    for (const r of runs) {
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain('"msg":"migrations applied"');
    }
    const journal = (await import('../../db/migrations/meta/_journal.json')).default as { entries: unknown[] };
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [{ n }] = await sql<[{ n: number }]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(n).toBe(journal.entries.length);
      const [{ t }] = await sql<[{ t: number }]>`select count(*)::int as t from information_schema.tables where table_name = 'deployments'`;
      expect(t).toBe(1);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('migrate: without DATABASE_URL it exits 2 and says why; a bad one exits 1 without printing the password', async () => {
    const [missing, refused] = await Promise.all([
      start(MIGRATE, {}).exited,
      start(MIGRATE, { DATABASE_URL: 'postgres://aether:s3cret-pw@127.0.0.1:1/aether' }).exited,
    ]);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain('DATABASE_URL is required');
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('migration failed');
    expect(refused.output).not.toContain('s3cret-pw');
  });

  it('worker: starts the queues against the migrated database and drains on SIGTERM (what tini forwards)', async () => {
    const worker = start(WORKER, { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, AETHER_QUEUE_PREFIX: prefix, AETHER_DATA_DIR: dataDir });
    const deadline = Date.now() + 30_000;
    while (!worker.output().includes('workers started') && worker.child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(worker.output()).toContain('workers started');
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    expect(exit.code, exit.output).toBe(0);
    expect(exit.output).toContain('worker shutting down');
  });
});
