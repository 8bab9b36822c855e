/**
 * HAProxy in front of the Node.js router: a child process (master and one worker) on the
 * router's public port. The route table's changes reach it through its runtime API (servers
 * added, drained, deleted; host map entries), so no reload closes a client's connection. Its data
 * path costs a fraction of any Node.js proxy's CPU per request.
 *
 * One loop owns HAProxy: it starts it (again, after it died), sends the commands a table change
 * needs, deletes drained servers, and when HAProxy's state is in doubt (a command refused, the
 * slots ran out) renders the whole configuration and reloads, retrying with backoff until that
 * works. A change counts as applied only once HAProxy took it.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../../../logger';
import type { RouteTable } from '../route-table';
import { noInstanceResponse, renderConfig, renderHostMap, type FrontSettings } from './config';
import { cliCommand, sessionsOn } from './master-cli';
import { freeListenPort, launchHaproxy, reloadHaproxy, stopHaproxy, stopStaleHaproxy, workersOf, type HaproxyProcess } from './process';
import { SlotTable, type ServedApp } from './slots';

export { findHaproxy } from './process';

export interface HaproxyFrontOptions {
  bin: string;
  host: string;
  /** 0 takes a free port. */
  port: number;
  domain: string;
  fallbackPort: number;
  /** Sent to the Node.js router on what HAProxy hands over, so it trusts that X-Forwarded-For. */
  frontSecret: string;
  table: RouteTable;
  headersTimeoutMs?: number;
  log?: Logger;
  /** Slot backends to start with (64); more apps served at once cost one reload. */
  initialSlots?: number;
  /**
   * Where HAProxy's master writes its pid. A control plane killed outright leaves its HAProxy
   * running on the port; the next one stops that one first.
   */
  pidFile?: string;
}

export interface HaproxyFront {
  readonly port: number;
  /** The master process, for tests that kill it. */
  readonly pid: () => number | undefined;
  /** Resolves once HAProxy took every table change made so far. */
  settled(): Promise<void>;
  /**
   * True once HAProxy took every change so far and no worker (an old one finishing after a
   * reload included) has a request in progress to any of `ports`; false after `timeoutMs`, or
   * while HAProxy cannot say.
   */
  drain(ports: number[], timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Slot backends at start; doubled (one reload) when more apps are served at once. */
const INITIAL_SLOTS = 64;
const SWEEP_MS = 1_000;
const POLL_MS = 100;
/** Changes within this go as one batch: a switch sets the new release and drops the old one. */
const COALESCE_MS = 10;
const MAX_BACKOFF_MS = 5_000;
const FIRST_START_TRIES = 4;
/** An old worker (after a reload) keeps its WebSockets and streams as long as the idle timeouts allow. */
const HARD_STOP_AFTER_MS = 3_600_000;

export async function startHaproxyFront(o: HaproxyFrontOptions): Promise<HaproxyFront> {
  // Unix socket paths are short (108 bytes): a private directory under the system's tmp, not the data dir.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aether-router-'));
  const port = o.port || (await freeListenPort(o.host));
  const settings: FrontSettings = {
    host: o.host,
    port,
    fallbackPort: o.fallbackPort,
    frontSecret: o.frontSecret,
    statsSocket: path.join(dir, 'worker.sock'),
    mapFile: path.join(dir, 'hosts.map'),
    noInstanceFile: path.join(dir, '502.http'),
    hardStopAfterMs: HARD_STOP_AFTER_MS,
    headersTimeoutMs: o.headersTimeoutMs ?? 10_000,
    dropPrivileges: process.getuid?.() === 0,
    threads: Math.max(1, Math.floor(os.availableParallelism() / 2)),
  };
  const masterSocket = path.join(dir, 'master.sock');
  const cfgFile = path.join(dir, 'haproxy.cfg');
  const slots = new SlotTable(o.initialSlots ?? INITIAL_SLOTS, settings.mapFile);
  const served = (): ServedApp[] => o.table.served().map((s) => ({ ...s, hostname: `${s.appName}.${o.domain}` }));

  let proc: HaproxyProcess | null = null;
  let closing = false;
  /** HAProxy's own state may differ from the slot table's: render everything and reload. */
  let inDoubt = false;
  let wanted = 0;
  let applied = 0;
  let sweepDue = false;
  let sweepTimer: NodeJS.Timeout | null = null;
  let wakeLoop: (() => void) | null = null;
  let loopDone: Promise<void> = Promise.resolve();
  const stopping = new AbortController();
  // An exiting control plane (its last word may be process.exit) takes its HAProxy along; a
  // SIGKILLed one leaves it to the next one's pid file check.
  const stopOnExit = () => void proc?.child.kill('SIGTERM');
  process.once('exit', stopOnExit);
  const waiters = new Set<() => void>();

  const kick = () => {
    const wake = wakeLoop;
    wakeLoop = null;
    wake?.();
  };
  const running = () => proc !== null && proc.child.exitCode === null && proc.child.signalCode === null;

  /** The whole configuration from the slot table, renamed into place: a reload never reads half a file. */
  async function render(): Promise<void> {
    const plan = slots.plan(served());
    if (plan.kind === 'grow') {
      slots.slots = plan.slots;
      slots.plan(served());
    }
    const { state, map } = slots.snapshot();
    await writeFile(settings.noInstanceFile, noInstanceResponse());
    await writeFile(`${settings.mapFile}.tmp`, renderHostMap(map));
    await rename(`${settings.mapFile}.tmp`, settings.mapFile);
    await writeFile(`${cfgFile}.tmp`, renderConfig(settings, slots.slots, state));
    await rename(`${cfgFile}.tmp`, cfgFile);
  }

  async function start(): Promise<void> {
    await render();
    const started = await launchHaproxy({ bin: o.bin, cfgFile, masterSocket, pidFile: o.pidFile, host: o.host, port });
    proc = started;
    void started.exited.then(() => {
      if (closing || proc !== started) return;
      o.log?.error('router front (haproxy) exited; starting it again', { code: started.child.exitCode, signal: started.child.signalCode, alerts: started.alerts() });
      kick();
    });
  }

  /** The commands one table change needs; false when they cannot do it (the slots ran out). */
  async function sendChanges(): Promise<boolean> {
    const plan = slots.plan(served());
    if (plan.kind === 'grow') return false;
    for (const command of plan.commands) {
      const answer = (await cliCommand(settings.statsSocket, command)).trim();
      if (answer !== '' && answer !== 'New server registered.') throw new Error(`haproxy refused "${command}": ${answer}`);
    }
    return true;
  }

  /** Deletes drained servers; HAProxy refuses while one still has connections, so later again. */
  async function sweep(): Promise<void> {
    for (const { slot, port: p, command } of slots.deletable()) {
      if ((await cliCommand(settings.statsSocket, command).catch(() => '')).includes('Server deleted')) slots.deleted(slot, p);
    }
  }

  function scheduleSweep(): void {
    if (sweepTimer || closing || slots.deletable().length === 0) return;
    sweepTimer = setTimeout(() => {
      sweepTimer = null;
      sweepDue = true;
      kick();
    }, SWEEP_MS);
    sweepTimer.unref();
  }

  async function step(target: number): Promise<void> {
    if (!running()) {
      proc = null;
      await start();
      inDoubt = false;
    } else if (inDoubt || (applied < target && !(await sendChanges()))) {
      await render();
      await reloadHaproxy(masterSocket);
      inDoubt = false;
    } else if (sweepDue) {
      sweepDue = false;
      await sweep();
    }
    if (applied < target) {
      applied = target;
      for (const wake of [...waiters]) wake();
    }
    scheduleSweep();
  }

  /** The one loop that talks to HAProxy. `first` settles with the first start's outcome. */
  async function loop(first: { resolve: () => void; reject: (err: unknown) => void }): Promise<void> {
    let failures = 0;
    let starting = true;
    while (!closing) {
      if (running() && !inDoubt && applied >= wanted && !sweepDue) {
        await new Promise<void>((resolve) => (wakeLoop = resolve));
        continue;
      }
      await sleep(COALESCE_MS);
      if (closing) break;
      try {
        await step(wanted);
        failures = 0;
        if (starting) first.resolve();
        starting = false;
      } catch (err) {
        failures++;
        // A first start may meet the port still held by a HAProxy just stopped: a few tries.
        if (closing || (starting && failures >= FIRST_START_TRIES)) {
          if (starting) first.reject(err);
          return;
        }
        inDoubt = true;
        o.log?.error('router front (haproxy) update failed; retrying with its whole configuration', { err, failures });
        // Only close() ends the backoff early: table changes wait, step() reads the latest table anyway.
        await sleep(Math.min(MAX_BACKOFF_MS, 250 * 2 ** failures), undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  }

  const unsubscribe = o.table.onChange(() => {
    wanted++;
    kick();
  });

  try {
    if (o.pidFile) {
      await stopStaleHaproxy(o.pidFile, o.log);
      await mkdir(path.dirname(o.pidFile), { recursive: true });
    }
    await new Promise<void>((resolve, reject) => {
      loopDone = loop({ resolve, reject });
    });
  } catch (err) {
    closing = true;
    process.off('exit', stopOnExit);
    unsubscribe();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const settled = (): Promise<void> => {
    const target = wanted;
    if (applied >= target || closing) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        if (applied < target && !closing) return;
        waiters.delete(wake);
        resolve();
      };
      waiters.add(wake);
    });
  };

  /** Requests in progress to `ports` across every worker; throws when HAProxy cannot say. */
  async function inProgress(ports: ReadonlySet<number>): Promise<number> {
    const { current, old } = await workersOf(masterSocket);
    let total = 0;
    for (const pid of [...current, ...old]) {
      const stat = await cliCommand(masterSocket, `@!${pid} show stat`);
      if (!stat.startsWith('# ')) throw new Error(`haproxy: no stats from worker ${pid}`);
      total += sessionsOn(stat, ports);
    }
    return total;
  }

  return {
    port,
    pid: () => proc?.child.pid,
    settled,
    async drain(ports, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const watched = new Set(ports);
      const timedOut = new AbortController();
      const took = await Promise.race([settled().then(() => true), sleep(timeoutMs, false, { signal: timedOut.signal }).catch(() => false)]);
      timedOut.abort();
      if (!took) return false;
      while (!closing) {
        if ((await inProgress(watched).catch(() => null)) === 0) return true;
        if (Date.now() >= deadline) return false;
        await sleep(POLL_MS);
      }
      return true;
    },
    async close() {
      closing = true;
      stopping.abort();
      unsubscribe();
      if (sweepTimer) clearTimeout(sweepTimer);
      kick();
      for (const wake of [...waiters]) wake();
      // The loop may be starting HAProxy right now: what it started is stopped once it returned.
      await loopDone;
      if (proc) await stopHaproxy(proc);
      process.off('exit', stopOnExit);
      await rm(dir, { recursive: true, force: true });
      if (o.pidFile) await rm(o.pidFile, { force: true });
    },
  };
}
