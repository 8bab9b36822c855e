import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { appPortRangeOfThisWorker } from './app-port-range';
import { deletePrefix, TEST_REDIS_URL } from './redis';
import { recordedPids } from './app-processes';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'dist/cli/aether.mjs');

/** The e2e tests run what users run: the production build and the bundled CLI. */
export function assertBuilt(): void {
  const missing = [path.join(ROOT, process.env.AETHER_NEXT_DIST_DIR || '.next', 'BUILD_ID'), CLI].filter(
    (f) => !existsSync(f),
  );
  if (missing.length) throw new Error(`build first (npm run build); missing: ${missing.join(', ')}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface PlaneProcess {
  url: string;
  output(): string;
  stop(): Promise<void>;
  pid(): number | undefined;
  /** Sends `signal` (no grace, no cleanup when SIGKILL) and resolves once the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `AETHER_CPU_PROF_DIR` makes the plane write a V8 CPU profile there on exit (NODE_OPTIONS refuses --cpu-prof). */
const cpuProfileArgs = () =>
  process.env.AETHER_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.AETHER_CPU_PROF_DIR}`] : [];

/** Starts the web process as `npm start` does (web + inline workers) and resolves once /readyz says ready. */
export async function startPlaneProcess(env: Record<string, string>, port: number): Promise<PlaneProcess> {
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...cpuProfileArgs(),
      '--max-semi-space-size=64',
      '--import',
      'tsx',
      path.join(ROOT, 'server/http/main.ts'),
      '-p',
      String(port),
      '-H',
      '127.0.0.1',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        PORT: String(port),
        AETHER_PUBLIC_URL: url,
        AETHER_ROUTER_PORT: '0',
        AETHER_APP_PORT_RANGE: appPortRangeOfThisWorker('child-process'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`control plane exited early:\n${output}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`control plane not ready after 90 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    output: () => output,
    pid: () => child.pid,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Kills every app process the local runtime left running under `dataDir`. */
export async function killLocalApps(dataDir: string): Promise<void> {
  const files = await readdir(path.join(dataDir, 'runtime', 'state')).catch(() => [] as string[]);
  for (const f of files.filter((n) => n.endsWith('.json'))) {
    for (const pid of await recordedPids(dataDir, f.slice(0, -'.json'.length))) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bundled CLI like a user would, in `cwd`, with `env` on top of a clean base. */
export function runCli(args: string[], opts: { cwd: string; env: Record<string, string> }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd,
      // A clean environment, like a developer's shell: nothing of the test runner's leaks in.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: opts.env.HOME ?? process.env.HOME ?? '/tmp',
        ...opts.env,
      } as unknown as NodeJS.ProcessEnv,
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

export interface E2EWorkspace {
  /** A temp dir for the test's projects and caches; the plane's data dir is `<work>/data`. */
  work: string;
  plane: PlaneProcess;
  close(): Promise<void>;
}

/**
 * A production control plane on embedded defaults in a fresh temp dir, with its own queue
 * prefix on the real Redis and the given `token:role:name` entries; `close` stops it, kills the
 * apps it started and removes everything.
 */
export async function startE2EWorkspace(
  name: string,
  tokens: string[],
  env: Record<string, string> = {},
): Promise<E2EWorkspace> {
  assertBuilt();
  const work = await mkdtemp(path.join(os.tmpdir(), `aether-e2e-${name}-`));
  const prefix = `e2e-${name}-${randomUUID()}`;
  const plane = await startPlaneProcess(
    {
      AETHER_DATA_DIR: path.join(work, 'data'),
      REDIS_URL: TEST_REDIS_URL,
      AETHER_QUEUE_PREFIX: prefix,
      AETHER_API_TOKENS: tokens.join(','),
      AETHER_LOG_LEVEL: 'warn',
      ...env,
    },
    await freePort(),
  );
  return {
    work,
    plane,
    async close() {
      await plane.stop();
      await killLocalApps(path.join(work, 'data'));
      await deletePrefix(prefix);
      await rm(work, { recursive: true, force: true });
    },
  };
}
