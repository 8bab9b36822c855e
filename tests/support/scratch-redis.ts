import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './control-plane-process';

/**
 * A real `redis-server` of a test's own, which the test can shut down, kill and start again on
 * the same port and directory. Append-only persistence with an fsync per write: what a client
 * was told is written survives a stop or a SIGKILL, as on a production Redis with AOF.
 */
export interface ScratchRedis {
  url: string;
  port: number;
  dir: string;
  /** SHUTDOWN (SIGTERM if it does not answer), then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, then waits for the exit: nothing is flushed beyond what the AOF already has. */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir (the AOF is replayed); resolves once it answers PING. */
  start(): Promise<void>;
  running(): boolean;
  output(): string;
  /** Stops it and removes its dir. */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

export async function startScratchRedis(): Promise<ScratchRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aether-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';

  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => c.once('exit', () => resolve()));

  async function start(): Promise<void> {
    if (child && child.exitCode === null && child.signalCode === null) throw new Error('scratch redis is running');
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
    args.push('--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no', '--protected-mode', 'no');
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`redis-server exited (${c.exitCode}):\n${output}`);
      // A fresh client per probe: ioredis would otherwise queue the PING until it connects.
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      const ok = await probe
        .connect()
        .then(() => probe.ping())
        .then(
          (pong) => pong === 'PONG',
          () => false,
        );
      probe.disconnect();
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`redis-server not answering after ${READY_TIMEOUT_MS} ms:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function stop(): Promise<void> {
    const c = child;
    if (!c) return;
    const gone = exited(c);
    const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on('error', () => {});
    // SHUTDOWN closes the connection instead of answering: its rejection is the expected outcome.
    await admin
      .connect()
      .then(() => admin.call('SHUTDOWN'))
      .catch(() => undefined);
    admin.disconnect();
    const timer = setTimeout(() => c.kill('SIGTERM'), 5_000);
    await gone;
    clearTimeout(timer);
  }

  await start();
  return {
    url,
    port,
    dir,
    start,
    stop,
    async kill() {
      const c = child;
      if (!c) return;
      const gone = exited(c);
      c.kill('SIGKILL');
      await gone;
    },
    running: () => child !== null && child.exitCode === null && child.signalCode === null,
    output: () => output,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
