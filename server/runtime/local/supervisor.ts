import type { AppHealth, HealthReport, RuntimeDeployment, RuntimeStatus } from '../port';
import { probe, isHealthyStatus } from './health';
import { awaitHealthy, exitOf, lastWords, recordOf, settingsOf, startInstance, stopLive, type LiveInstance, type SpawnContext } from './instance-set';
import type { RouteTable } from './router/route-table';
import { isSameProcess } from './process';
import { readState, writeState } from './state';

export interface SuperviseContext extends SpawnContext {
  table: RouteTable;
  onHealth: (report: HealthReport) => void;
  /** Runs `task` under the app's lock (restarts must not interleave with scale, rollout, stop). */
  withAppLock: <T>(appName: string, task: () => Promise<T>) => Promise<T>;
}

const BACKOFF_START_MS = 1000;
const BACKOFF_CAP_MS = 30_000;
/** In a crash loop, how often a report reaches onHealth (each is a DB event). */
const LOOP_REPORT_EVERY_MS = 5 * 60_000;
/** Consecutive failed periodic probes that take an instance out of the router. */
const FAILED_PROBES_OUT = 3;

/**
 * Keeps one app's current release running: `desired` instances, each restarted with backoff
 * when it exits, taken out of the router while it fails its health checks.
 */
export class AppSupervisor {
  readonly instances = new Map<string, LiveInstance>();
  readonly restarts = new Map<string, number>();
  #ready = new Map<string, boolean>();
  #failedProbes = new Map<string, number>();
  /** When each restart happened, with the instance restarted: the crash-loop window counts them. */
  #restartTimes: Array<{ at: number; id: string }> = [];
  #pending = new Map<string, NodeJS.Timeout>();
  /** Instances still routed while their replacement starts (rolling restart), with their readiness. */
  #outgoing = new Map<string, { inst: LiveInstance; ready: boolean }>();
  /** Started, not yet healthy and routed (see startAndJoin). */
  #starting = new Set<LiveInstance>();
  #checks: NodeJS.Timeout | null = null;
  /** When a crash loop was last reported, and how many reports were held back since. */
  #loopReportedAt = 0;
  #heldBack = 0;
  #stopped = false;
  /** Starts by this supervisor: names a replacement's cgroup apart from its predecessor's. */
  #generation = 0;
  health: AppHealth = 'healthy';

  constructor(
    readonly ctx: SuperviseContext,
    readonly d: RuntimeDeployment,
    public desired: number,
  ) {
    this.#scheduleChecks(settingsOf(ctx.healthTimeoutMs, d).healthIntervalMs);
  }

  /** The next round of checks `ms` after this one ended: slow probes never pile up. */
  #scheduleChecks(ms: number): void {
    if (this.#stopped) return;
    this.#checks = setTimeout(() => {
      void this.#checkAll()
        .catch((err: unknown) => this.ctx.log('runtime: health checks failed', { appName: this.appName, error: String(err) }))
        .finally(() => this.#scheduleChecks(ms));
    }, ms);
    this.#checks.unref();
  }

  get appName() {
    return this.d.appName;
  }

  /** False once detached: a supervisor that gave up is no longer the app's. */
  get supervising(): boolean {
    return !this.#stopped;
  }

  /** Takes a healthy instance under supervision (caller routes it). */
  adopt(inst: LiveInstance): void {
    this.instances.set(inst.id, inst);
    this.#ready.set(inst.id, true);
    void exitOf(inst).then((exit) => this.#onExit(inst, exit));
  }

  targets() {
    const outgoing = [...this.#outgoing.values()].map(({ inst, ready }) => ({ instance: inst.id, port: inst.port, ready }));
    const current = [...this.instances.values()].map((i) => ({ instance: i.id, port: i.port, ready: this.#ready.get(i.id) ?? false }));
    return [...outgoing, ...current].sort((a, b) => Number(a.instance) - Number(b.instance));
  }

  /** Publishes the targets to the router and the state file; not once detached (another release, or none, is the app's now). */
  async publish(): Promise<void> {
    if (this.#stopped) return;
    this.ctx.table.setTargets(this.appName, this.d.deploymentId, this.targets());
    const { d } = this;
    const state = { deploymentId: d.deploymentId, digest: d.digest, storageKey: d.storageKey, startedAt: new Date().toISOString() };
    const others = [...this.#starting, ...[...this.#outgoing.values()].map((o) => o.inst)].map(recordOf);
    await writeState(this.ctx.layout, this.appName, { ...state, desired: this.desired, instances: [...this.instances.values()].map(recordOf), others });
  }

  status(): RuntimeStatus {
    const ids = [...new Set([...this.instances.keys(), ...this.#pending.keys()])].sort((a, b) => Number(a) - Number(b));
    return { health: this.health, instances: ids.map((id) => ({ id, ready: this.#ready.get(id) ?? false, restarts: this.restarts.get(id) ?? 0 })) };
  }

  /** Ends supervision: no restart, no check from now on. Returns what still runs (the caller stops it). */
  detach(): LiveInstance[] {
    this.#stopped = true;
    if (this.#checks) clearTimeout(this.#checks);
    for (const t of this.#pending.values()) clearTimeout(t);
    this.#pending.clear();
    const left = [...this.instances.values(), ...[...this.#outgoing.values()].map((o) => o.inst)];
    this.#outgoing.clear();
    for (const i of left) i.retiring = true;
    return left;
  }

  /** Takes `inst` out on purpose (scale down, rolling restart): out of the router, drained, stopped. */
  async retire(inst: LiveInstance, drainMs: number): Promise<void> {
    inst.retiring = true;
    this.instances.delete(inst.id);
    this.#ready.delete(inst.id);
    const pending = this.#pending.get(inst.id);
    if (pending) clearTimeout(pending);
    this.#pending.delete(inst.id);
    await this.publish();
    await this.ctx.table.drain([inst.port], drainMs);
    await stopLive(this.ctx, this.appName, inst);
  }

  /**
   * Replaces `old` by a fresh instance of the same id (rolling restart): `old` stays routed until
   * the new one is healthy and routed, then drains and stops. When the new one does not come up,
   * `old` is kept if it still runs, else its restart is scheduled; the error is thrown.
   */
  async replace(old: LiveInstance, drainMs: number): Promise<void> {
    old.retiring = true;
    this.instances.delete(old.id);
    this.#outgoing.set(old.id, { inst: old, ready: this.#ready.get(old.id) ?? false });
    try {
      await this.startAndJoin(old.id);
    } catch (err) {
      const stillOurs = this.#outgoing.get(old.id)?.inst === old;
      const ready = this.#outgoing.get(old.id)?.ready ?? false;
      this.#outgoing.delete(old.id);
      if (this.#stopped) throw err;
      if (stillOurs && (await isSameProcess(old.pid, old.procStart))) {
        old.retiring = false;
        this.instances.set(old.id, old);
        this.#ready.set(old.id, ready); // its exit watch (from adopt) still runs
      } else {
        await stopLive(this.ctx, this.appName, old);
        this.#ready.set(old.id, false);
        this.#scheduleRestart(old.id, `instance ${old.id} exited while its replacement failed to start`);
      }
      await this.publish();
      throw err;
    }
    this.#outgoing.delete(old.id);
    await this.publish();
    await this.ctx.table.drain([old.port], drainMs);
    await stopLive(this.ctx, this.appName, old);
  }

  /** Cancels a scheduled restart of instance `id` (scale down of a crashed instance). */
  cancelRestart(id: string): boolean {
    const t = this.#pending.get(id);
    if (t) clearTimeout(t);
    this.#ready.delete(id);
    return this.#pending.delete(id);
  }

  pendingIds(): string[] {
    return [...this.#pending.keys()];
  }

  /** Starts instance `id`, waits until healthy, then routes it. Throws when it does not come up. */
  async startAndJoin(id: string): Promise<LiveInstance> {
    const inst = await startInstance(this.ctx, this.d, id, ++this.#generation);
    // Recorded before the health wait: a process killed meanwhile leaves nothing unrecorded.
    this.#starting.add(inst);
    try {
      // But only while the file is this release's: another process may have deleted or replaced the app.
      if ((await readState(this.ctx.layout, this.appName))?.deploymentId !== this.d.deploymentId) throw new Error('supervision ended: the app was replaced or deleted');
      await this.publish();
      await awaitHealthy(this.ctx, this.d, inst);
    } catch (err) {
      await stopLive(this.ctx, this.appName, inst);
      throw err;
    } finally {
      this.#starting.delete(inst);
    }
    if (this.#stopped) {
      await stopLive(this.ctx, this.appName, inst);
      throw new Error('supervision ended');
    }
    this.adopt(inst);
    return inst;
  }

  /**
   * Starts instance `id` like startAndJoin; when it does not come up it stays wanted: its restart
   * is scheduled with backoff and the app reported degraded. Returns why it failed, else null.
   */
  async startOrSchedule(id: string): Promise<unknown> {
    try {
      await this.startAndJoin(id);
      return null;
    } catch (err) {
      if (!this.#stopped) {
        this.#ready.set(id, false);
        const outputTail = (err as { outputTail?: string[] }).outputTail;
        this.#scheduleRestart(id, `instance ${id} failed to start (${err instanceof Error ? err.message : String(err)})`, outputTail);
      }
      return err;
    }
  }

  #report(health: AppHealth, message: string, extra: Partial<HealthReport> = {}): void {
    this.health = health;
    this.ctx.table.setState(this.appName, health === 'crash_loop' ? 'crash_loop' : health === 'stopped' ? 'stopped' : 'serving');
    // A crash loop would report every exit and restart forever: at most once per period, with a count.
    const now = Date.now();
    if (this.#looping() && now - this.#loopReportedAt < LOOP_REPORT_EVERY_MS) {
      this.#heldBack++;
      return;
    }
    if (health === 'crash_loop') this.#loopReportedAt = now;
    if (this.#heldBack) message = `${message} (${this.#heldBack} more report${this.#heldBack === 1 ? '' : 's'} since the last)`;
    this.#heldBack = 0;
    this.ctx.onHealth({ appName: this.appName, deploymentId: this.d.deploymentId, health, message, ...extra });
  }

  /** Whether the recent restarts make a crash loop (the release's window and count). */
  #looping(): boolean {
    const { crashLoopWindowMs, crashLoopRestarts } = settingsOf(this.ctx.healthTimeoutMs, this.d);
    const now = Date.now();
    return this.#restartTimes.filter((t) => now - t.at < crashLoopWindowMs).length >= crashLoopRestarts;
  }

  #anyReady(): boolean {
    return [...this.#ready.values()].some(Boolean);
  }

  #allReady(): boolean {
    return this.instances.size >= this.desired && [...this.#ready.values()].every(Boolean);
  }

  async #onExit(inst: LiveInstance, exit: { code: number | null; signal: NodeJS.Signals | null }): Promise<void> {
    if (this.#outgoing.get(inst.id)?.inst === inst) {
      // Died while its replacement starts: out of the router; replace() decides what follows.
      this.#outgoing.delete(inst.id);
      this.ctx.table.setTargets(this.appName, this.d.deploymentId, this.targets());
      return;
    }
    if (inst.retiring || this.#stopped || this.instances.get(inst.id) !== inst) return;
    inst.unwatch();
    this.instances.delete(inst.id);
    this.#ready.set(inst.id, false);
    this.ctx.table.setTargets(this.appName, this.d.deploymentId, this.targets());
    const how = inst.hit
      ? `stopped at a limit: ${inst.hit.message}`
      : exit.signal
        ? `signal ${exit.signal}`
        : exit.code === null
          ? 'exit status unknown: a re-adopted process'
          : `code ${exit.code}`;
    const outputTail = await lastWords(this.ctx, this.d, inst, true);
    // What it left (orphans in its group or cgroup, the cgroup itself, its port's fence) goes now.
    await stopLive(this.ctx, this.appName, inst);
    // A stop, scale or start may have happened meanwhile: then it is theirs to say what runs.
    if (this.#stopped || this.instances.has(inst.id)) return;
    this.#scheduleRestart(inst.id, `instance ${inst.id} exited (${how})`, outputTail);
  }

  #scheduleRestart(id: string, why: string, outputTail?: string[]): void {
    // Stopped or scaled below it: no longer wanted, and no report may overwrite `stopped`.
    if (this.#stopped) return;
    if (Number(id) >= this.desired) {
      this.#ready.delete(id);
      return;
    }
    const settings = settingsOf(this.ctx.healthTimeoutMs, this.d);
    const now = Date.now();
    this.#restartTimes = this.#restartTimes.filter((t) => now - t.at < settings.crashLoopWindowMs);
    // The backoff grows with this instance's recent restarts: a crash a week later starts at 1 s again.
    const n = this.#restartTimes.filter((t) => t.id === id).length;
    const looping = this.#restartTimes.length >= settings.crashLoopRestarts;
    // In a crash loop it keeps trying, at the cap.
    const delay = looping ? BACKOFF_CAP_MS : Math.min(BACKOFF_START_MS * 2 ** Math.min(n, 15), BACKOFF_CAP_MS);
    const health: AppHealth = looping ? 'crash_loop' : this.#anyReady() ? 'degraded' : 'restarting';
    const delayWords = delay >= 1000 ? `${delay / 1000} s` : `${delay} ms`;
    this.#report(health, `${why}; restarting in ${delayWords}`, { instance: id, ...(outputTail ? { outputTail } : {}) });
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      void this.ctx.withAppLock(this.appName, () => this.#restart(id)).catch((err: unknown) => this.#restartBroke(id, err));
    }, delay);
    timer.unref();
    this.#pending.set(id, timer);
  }

  async #restart(id: string): Promise<void> {
    if (this.#stopped || this.instances.has(id) || Number(id) >= this.desired) return;
    // Under the app's lock, only another process (the web's delete or rollout) changes the file:
    // the app is theirs now, and must not be resurrected here.
    const state = await readState(this.ctx.layout, this.appName);
    if (state?.deploymentId !== this.d.deploymentId) {
      this.ctx.log('runtime: app deleted or replaced by another control plane: supervision ends', { appName: this.appName, deploymentId: this.d.deploymentId });
      for (const inst of this.detach()) await stopLive(this.ctx, this.appName, inst);
      this.ctx.table.removeDeployment(this.appName, this.d.deploymentId);
      return;
    }
    this.#restartTimes.push({ at: Date.now(), id });
    this.restarts.set(id, (this.restarts.get(id) ?? 0) + 1);
    try {
      await this.startAndJoin(id);
    } catch (err) {
      if (this.#stopped) return;
      const message = err instanceof Error ? err.message : String(err);
      const outputTail = (err as { outputTail?: string[] }).outputTail;
      this.#ready.set(id, false);
      this.#scheduleRestart(id, `instance ${id} failed to restart (${message})`, outputTail);
      return;
    }
    this.#failedProbes.delete(id);
    await this.publish();
    if (this.#allReady()) {
      this.restarts.set(id, this.restarts.get(id) ?? 0);
      this.#report('healthy', `instance ${id} restarted: all ${this.desired} instance${this.desired === 1 ? '' : 's'} ready`, { instance: id });
    } else if (this.health === 'crash_loop' || this.health === 'restarting') {
      this.#report('degraded', `instance ${id} restarted and serving`, { instance: id });
    }
  }

  /** A restart that threw past its own handling (the lock, the state file): said, and retried if nothing runs. */
  #restartBroke(id: string, err: unknown): void {
    this.ctx.log('runtime: restarting an instance failed', { appName: this.appName, instance: id, error: String(err) });
    if (this.#stopped) return;
    if (this.instances.has(id)) this.#report('degraded', `instance ${id} restarted, but its state could not be saved`, { instance: id });
    else this.#scheduleRestart(id, `instance ${id} could not be restarted`);
  }

  async #checkAll(): Promise<void> {
    if (this.#stopped) return;
    // A loop that ended left its last word unsaid: say where it stands now.
    if (this.#heldBack && !this.#looping()) this.#report(this.health, `crash loop over: ${this.health}`);
    const { healthPath } = settingsOf(this.ctx.healthTimeoutMs, this.d);
    const probed = [...this.instances.values()];
    const answers = await Promise.all(probed.map((inst) => probe(inst.port, 2000, healthPath)));
    for (const [k, inst] of probed.entries()) {
      const ok = isHealthyStatus(answers[k] ?? null);
      if (this.#stopped || this.instances.get(inst.id) !== inst) continue;
      const failed = ok ? 0 : (this.#failedProbes.get(inst.id) ?? 0) + 1;
      this.#failedProbes.set(inst.id, failed);
      const wasReady = this.#ready.get(inst.id) ?? false;
      if (failed >= FAILED_PROBES_OUT && wasReady) {
        this.#ready.set(inst.id, false);
        this.ctx.table.setReady(this.appName, this.d.deploymentId, inst.id, false);
        const health: AppHealth = this.#anyReady() ? 'degraded' : 'restarting';
        this.#report(health, `instance ${inst.id} failed ${failed} health checks in a row: out of the router`, { instance: inst.id });
      } else if (ok && !wasReady) {
        this.#ready.set(inst.id, true);
        this.ctx.table.setReady(this.appName, this.d.deploymentId, inst.id, true);
        if (this.#allReady()) this.#report('healthy', `instance ${inst.id} passes its health checks again`, { instance: inst.id });
      }
    }
  }
}
