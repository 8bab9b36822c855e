/** Starting, reloading and stopping one HAProxy master (and its worker), and finding one left behind. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../../../logger';
import { cliCommand, parseShowProc, type Workers } from './master-cli';

const READY_TIMEOUT_MS = 10_000;
const POLL_MS = 50;

/**
 * HAProxy 2.4 or later (dynamic servers, `retry-on`, the master CLI): `bin` as given, else
 * `haproxy` on PATH or in /usr/sbin (not on a non-root user's PATH on Debian), or null.
 */
export function findHaproxy(bin?: string): string | null {
  for (const candidate of bin ? [bin] : ['haproxy', '/usr/sbin/haproxy']) {
    const out = spawnSync(candidate, ['-v'], { encoding: 'utf8' });
    const m = /version (\d+)\.(\d+)/.exec(out.stdout ?? '');
    if (out.status !== 0 || !m) continue;
    const [major, minor] = [Number(m[1]), Number(m[2])];
    if (major > 2 || (major === 2 && minor >= 4)) return candidate;
  }
  return null;
}

export interface HaproxyProcess {
  child: ChildProcess;
  exited: Promise<void>;
  /** Its alerts and warnings so far. */
  alerts(): string;
}

export interface LaunchOptions {
  bin: string;
  cfgFile: string;
  masterSocket: string;
  pidFile?: string;
  host: string;
  port: number;
}

/** Starts a master in the foreground and resolves once its worker accepts connections; kills it on failure. */
export async function launchHaproxy(o: LaunchOptions): Promise<HaproxyProcess> {
  const pid = o.pidFile ? ['-p', o.pidFile] : [];
  const child = spawn(o.bin, ['-W', '-db', '-S', `${o.masterSocket},mode,600`, ...pid, '-f', o.cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined); // a spawn failure also exits
  const proc: HaproxyProcess = { child, exited, alerts: () => alerts(output) };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`haproxy exited (${child.exitCode ?? child.signalCode}): ${proc.alerts()}`);
    if ((await workersOf(o.masterSocket).catch(() => null))?.current.length && (await accepts(o.host, o.port))) return proc;
    await sleep(POLL_MS);
  }
  await stopHaproxy(proc);
  throw new Error(`haproxy did not listen on ${o.host}:${o.port} within ${READY_TIMEOUT_MS} ms: ${proc.alerts()}`);
}

export async function workersOf(masterSocket: string): Promise<Workers> {
  const answer = await cliCommand(masterSocket, 'show proc');
  if (!answer.startsWith('#')) throw new Error(`haproxy master CLI: unexpected answer to show proc: ${answer.slice(0, 200)}`);
  return parseShowProc(answer);
}

/** Reloads (the new worker takes the listening socket over) and waits for the new worker. */
export async function reloadHaproxy(masterSocket: string): Promise<void> {
  const before = new Set((await workersOf(masterSocket)).current);
  await cliCommand(masterSocket, 'reload').catch(() => ''); // the master re-executes; the answer may be cut
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(POLL_MS);
    const now = await workersOf(masterSocket).catch(() => null);
    if (now?.current.some((pid) => !before.has(pid))) return;
  }
  throw new Error(`haproxy reload: no new worker within ${READY_TIMEOUT_MS} ms`);
}

/** Hard stop (SIGTERM), SIGKILL after 5 s. */
export async function stopHaproxy(proc: HaproxyProcess): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  // Unref'd: a stopped HAProxy must not hold the control plane's exit for 5 s.
  const killer = setTimeout(() => proc.child.kill('SIGKILL'), 5_000).unref();
  await proc.exited;
  clearTimeout(killer);
}

/** HAProxy's alerts and warnings, without its notices (version, path). */
function alerts(output: string): string {
  return output
    .split('\n')
    .filter((l) => /\[(ALERT|WARNING)\]/.test(l))
    .map((l) => l.replace(/^\[\w+\]\s+\(\d+\) : /, ''))
    .join(' | ');
}

const alive = async (pid: number) => ((await readFile(`/proc/${pid}/cmdline`).catch(() => null))?.length ?? 0) > 0;

/**
 * Stops the HAProxy a killed control plane left running: the pid in `pidFile`, if that process's
 * command line names this pid file (a reused pid is someone else's), and its socket directory.
 */
export async function stopStaleHaproxy(pidFile: string, log?: Logger): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  const flag = args.indexOf('-p');
  if (flag === -1 || args[flag + 1] !== pidFile) return;
  log?.warn('router front: stopping the HAProxy a previous control plane left running', { pid });
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 60 && (await alive(pid)); i++) await sleep(POLL_MS);
  if (await alive(pid)) process.kill(pid, 'SIGKILL');
  const socket = args[args.indexOf('-S') + 1]?.split(',')[0];
  const socketDir = socket ? path.dirname(socket) : '';
  if (path.dirname(socketDir) === os.tmpdir() && path.basename(socketDir).startsWith('aether-router-')) await rm(socketDir, { recursive: true, force: true });
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port free on `host` now, for a router asked to take any (tests). */
export function freeListenPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
