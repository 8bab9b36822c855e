import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { existsSync, realpathSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PreparedInstance } from './sandbox/sandbox';

/** A process group we started and still hold a handle on. */
export interface Spawned {
  /** The group leader (npm, parent of the app); the group id is the same number. */
  pid: number;
  /** Kernel start time of the leader, null where /proc does not exist. */
  procStart: string | null;
  /** Settles when the leader exits; our handle keeps it reaped (no zombie). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Settles when the log writer has written everything the app printed and exited. */
  logged: Promise<void>;
  child: ChildProcess;
}

/**
 * Every app process this OS process spawned and has not yet reaped, by pid, whichever driver
 * instance started it. Process-wide (on globalThis, as bundlers may load this module twice)
 * because being a child is: any driver stopping one can wait for its reaping.
 */
const registry = globalThis as typeof globalThis & { __aetherRuntimeChildren?: Map<number, Spawned> };
export const children = (registry.__aetherRuntimeChildren ??= new Map<number, Spawned>());

export interface SpawnOptions {
  cwd: string;
  port: number;
  logFile: string;
  /** The log writer script (see log-writer.ts) that timestamps the app's output into `logFile`. */
  logWriter: string;
  /** Size at which the log writer rotates `logFile` to `logFile.1`. */
  logMaxBytes: number;
  /** Fallback HOME for npm's cache and logs when the control plane has none. */
  home: string;
  /** The app's sandbox (uid, cgroups, bwrap); null runs it as the control plane's user. */
  prepared: PreparedInstance | null;
  /** The release's config (secrets decrypted): reaches the app's environment and nothing else. */
  config: Readonly<Record<string, string>>;
  /** Run through `sh -c` instead of `npm start`; null: `npm start`. */
  startCommand: string | null;
}

/**
 * Runs `npm start` (or the release's start command) in `cwd` as the leader of a new process group, its stdout and stderr going
 * to the log writer, which appends them line by line with a timestamp to `logFile`. Neither
 * depends on the control plane: the app keeps running and logging if the control plane exits.
 * The writer starts first but both boot at once: the app no longer waits for a second Node.js
 * to start before its own (about a third of a small app's start time on a slow machine).
 */
export async function spawnApp(opts: SpawnOptions): Promise<Spawned> {
  const writer = spawn(/*turbopackIgnore: true*/ process.execPath, [opts.logWriter, opts.logFile, String(opts.logMaxBytes)], {
    cwd: opts.cwd,
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
    // None of the control plane's environment: the app, as the same user, could read it in /proc.
    env: { NODE_ENV: 'production' },
  });
  await spawned(writer);
  writer.unref();
  const logged = new Promise<void>((resolve) => writer.once('exit', () => resolve()));
  const [stdout, stderr] = [writer.stdio[3] as Socket, writer.stdio[4] as Socket];
  const command = opts.startCommand === null ? npmStart() : ['/bin/sh', '-c', opts.startCommand];
  const own = platformEnv(opts);
  const whole = appEnv(own, opts.config);
  const unwrapped = { argv: command, env: whole, envInput: null, bwrapOptions: null, seccomp: null };
  const hasConfig = Object.keys(opts.config).length > 0;
  const launch = opts.prepared ? opts.prepared.wrap(command, appEnv(own, {}), hasConfig ? whole : null) : unwrapped;
  const { argv, env } = launch;
  let child: ChildProcess;
  try {
    // fd 3 (BWRAP_ARGS_FD): a pipe bwrap reads its options from; fd 4 (SECCOMP_FD), its filter;
    // fd 5 (ENV_FD), the app's environment, read once it runs as the app.
    const inputs: Array<Buffer | null> = [launch.bwrapOptions, launch.seccomp, launch.envInput];
    while (inputs.length && inputs[inputs.length - 1] === null) inputs.pop();
    const stdio: Array<'ignore' | 'pipe' | Socket> = ['ignore', stdout, stderr, ...inputs.map((b) => (b ? ('pipe' as const) : ('ignore' as const)))];
    child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, detached: true, stdio, env: env as NodeJS.ProcessEnv });
    await spawned(child);
    inputs.forEach((bytes, i) => {
      if (!bytes) return;
      const pipe = child.stdio[3 + i] as Writable;
      pipe.on('error', () => {}); // bwrap gone before reading: its exit tells the rollout
      pipe.end(bytes, () => pipe.destroy());
    });
  } finally {
    // Only the two processes keep the sockets: the writer sees the end when the app's side closes.
    stdout.destroy();
    stderr.destroy();
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // Don't keep the control plane alive for it; the 'exit' listener still reaps it while we own it.
  child.unref();
  const pid = child.pid as number;
  const app: Spawned = { pid, procStart: (await procStat(pid))?.start ?? null, exited, logged, child };
  children.set(pid, app);
  void exited.then(() => children.delete(pid));
  return app;
}

/** Resolves once the process runs; a later 'error' (a failed kill) must not crash us. */
async function spawned(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.on('error', () => {});
}

/**
 * The app's environment: the release's config, NODE_ENV=production unless the config says
 * otherwise, and the driver's own variables, which no config overrides.
 */
function appEnv(own: Record<string, string>, config: Readonly<Record<string, string>>): Record<string, string> {
  return { NODE_ENV: 'production', ...config, ...own };
}

function platformEnv(opts: SpawnOptions): Record<string, string> {
  // Pass-through of the machine's PATH and HOME, not configuration: nothing else of the
  // control plane's environment (secrets included) reaches the app.
  const nodeDir = path.dirname(process.execPath);
  return {
    PATH: `${nodeDir}${path.delimiter}${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
    HOME: opts.prepared?.home ?? process.env.HOME ?? opts.home,
    PORT: String(opts.port),
    npm_config_update_notifier: 'false',
    // The control plane user's ~/.npmrc is not the app's business (it would reach the app as
    // npm_config_* variables): npm starts the app with no user config at all.
    npm_config_userconfig: '/dev/null',
  };
}

let npmCached: { file: string; args: string[] } | undefined;

const npmStart = () => {
  const npm = npmCommand();
  return [npm.file, ...npm.args, 'start'];
};

/** npm's CLI run by this very node binary when it sits beside it, else `npm` from PATH. */
function npmCommand(): { file: string; args: string[] } {
  if (!npmCached) {
    npmCached = { file: 'npm', args: [] };
    try {
      const cli = realpathSync(path.join(path.dirname(process.execPath), 'npm'));
      if (cli.endsWith('.js')) npmCached = { file: process.execPath, args: [cli] };
    } catch {
      // no npm beside node: rely on PATH
    }
  }
  return npmCached;
}

const HAS_PROC = existsSync('/proc/self/stat');

interface ProcStat {
  state: string;
  pgrp: number;
  start: string;
}

/** Fields of /proc/<pid>/stat we need, or null when the process does not exist. */
export async function procStat(pid: number): Promise<ProcStat | null> {
  if (!HAS_PROC) return null;
  const raw = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!raw) return null;
  // comm (field 2) may contain spaces and parens: fields resume after the last ')'.
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', pgrp: Number(rest[2]), start: rest[19] ?? '' };
}

function signalExists(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is alive and is still the process that had start time `procStart` (pid
 * reuse check; skipped where /proc is missing or the start time was not recorded).
 */
export async function isSameProcess(pid: number, procStart: string | null | undefined): Promise<boolean> {
  if (!HAS_PROC) return signalExists(pid);
  const stat = await procStat(pid);
  if (!stat || stat.state === 'Z') return false;
  return !procStart || stat.start === procStart;
}

/** Whether any non-zombie process is left in group `pgid`. */
export async function groupAlive(pgid: number): Promise<boolean> {
  if (!HAS_PROC) return signalExists(-pgid);
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const stats = await Promise.all(pids.map((p) => procStat(Number(p))));
  return stats.some((s) => s !== null && s.pgrp === pgid && s.state !== 'Z');
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

// A stopped app is usually gone within milliseconds: poll often, a scan of /proc is cheap.
const GONE_POLL_MS = 10;

async function waitGroupGone(pgid: number, ms: number, leaderExited?: Promise<unknown>): Promise<boolean> {
  const deadline = Date.now() + ms;
  // npm leads the group and leaves after the app: while it runs, the group is not gone.
  if (leaderExited) await Promise.race([leaderExited, sleep(ms)]);
  // No member left at all, not even a zombie: no need to scan /proc.
  if (!signalExists(-pgid)) return true;
  while (await groupAlive(pgid)) {
    if (Date.now() >= deadline) return false;
    await sleep(GONE_POLL_MS);
  }
  return true;
}

/**
 * SIGTERM to the whole group, SIGKILL after `graceMs`; resolves once the group is gone.
 * `leaderExited`, when we hold the leader as a child, saves polling while it winds down.
 */
export async function stopGroup(pgid: number, opts: { graceMs?: number; leaderExited?: Promise<unknown> } = {}): Promise<'terminated' | 'killed' | 'stuck'> {
  const graceMs = opts.graceMs ?? 5000;
  signalGroup(pgid, 'SIGTERM');
  if (await waitGroupGone(pgid, graceMs, opts.leaderExited)) return 'terminated';
  signalGroup(pgid, 'SIGKILL');
  return (await waitGroupGone(pgid, 2000)) ? 'killed' : 'stuck';
}
