import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { safeExtract } from '../extract';
import { resolveStartCommand } from '../start-command';
import { RolloutError, type PhaseReport, type RolloutPhase, type RolloutResult, type RuntimeDeployment } from '../port';
import { fetchToFile } from './fetch';
import { readopt, retireState } from './adopt';
import { awaitHealthy, recordOf, startInstance, stopLive, type LiveInstance } from './instance-set';
import { removeTreesBut, rmTree } from './instances';
import { appDirOf, appLogsDirOf, urlOf } from './layout';
import { pruneAppLogs } from './logs';
import { clearStarting, readStarting, readState, writeStarting, type TAppState } from './state';
import { AppSupervisor } from './supervisor';
import type { RolloutContext } from './context';

export type { RolloutContext };

type OnPhase = (report: PhaseReport) => Promise<void>;

/** A rollout's outcome, plus work that may run after it is reported, still under the app's lock. */
export interface LocalRolloutResult extends RolloutResult {
  /** Deletes the replaced release's unpacked tree and any stale one (slow for a big node_modules). */
  cleanup: () => Promise<void>;
}

const nothingToClean = async () => {};

/** Where the app answers: the router's stable URL, else its first instance. */
export function urlOfApp(ctx: RolloutContext, sup: AppSupervisor | undefined, appName: string): string {
  const routed = ctx.routerUrl?.(appName);
  if (routed) return routed;
  const first = sup ? [...sup.instances.values()][0] : undefined;
  return first ? urlOf(first.port) : '';
}

/**
 * fetch -> verify -> unpack -> start -> health -> switch for one deployment; the caller holds
 * the app's lock. Until `switch` commits, the previous release is untouched, and a failure
 * removes what this attempt made (processes, download, unpacked tree; the logs stay).
 */
export async function runRollout(ctx: RolloutContext, d: RuntimeDeployment, onPhase: OnPhase): Promise<LocalRolloutResult> {
  let previous = await readState(ctx.layout, d.appName);
  if (previous?.deploymentId === d.deploymentId) {
    const t0 = performance.now();
    const running = ctx.supervisors.get(d.appName);
    // A retried job, or restore() finding it alive: re-adopt rather than start a twin.
    const live = running?.d.deploymentId === d.deploymentId && running.supervising && (running.instances.size > 0 || running.desired === 0);
    const sup = live ? running : await readopt(ctx, d, previous);
    if (sup) {
      const message = `already running: ${sup.instances.size} instance${sup.instances.size === 1 ? '' : 's'}`;
      await onPhase({ phase: 'health', message, durationMs: elapsed(t0) });
      return { url: urlOfApp(ctx, sup, d.appName), cleanup: nothingToClean };
    }
    // Same deployment, but nothing of it alive: clear its remains and start it afresh.
    await retireState(ctx, d.appName, previous);
    previous = null;
  }
  const attempt = new Attempt(ctx, d, onPhase);
  try {
    return await attempt.run(previous);
  } catch (err) {
    await attempt.undo();
    throw err;
  } finally {
    await rm(attempt.archive, { force: true });
  }
}

/** One try at rolling out `d`, remembering what it made so that it can undo it. */
class Attempt {
  readonly dir: string;
  readonly archive: string;
  #started: LiveInstance[] = [];
  #committed = false;
  #pruned: Promise<void> = Promise.resolve();

  constructor(
    readonly ctx: RolloutContext,
    readonly d: RuntimeDeployment,
    readonly onPhase: OnPhase,
  ) {
    this.dir = appDirOf(ctx.layout, d.appName, d.deploymentId);
    this.archive = path.join(ctx.layout.tmpDir, `${d.deploymentId}.${randomUUID()}.tar.gz`);
  }

  async run(previous: TAppState | null): Promise<LocalRolloutResult> {
    const { ctx, d } = this;
    const refusal = (await ctx.sandbox).decision.refusal;
    if (refusal) throw new RolloutError('sandbox_unavailable', refusal);
    await this.#stopOrphans(previous);
    const fetched = await this.#phase('fetch', async () => {
      const r = await fetchToFile(ctx.source, d.storageKey, this.archive);
      return [r, `fetched ${r.bytes} bytes`];
    });
    await this.#phase('verify', async () => {
      if (fetched.digest !== d.digest) {
        throw new RolloutError('digest_mismatch', `artifact sha256 is ${fetched.digest}, expected ${d.digest}`);
      }
      return [null, `sha256 ${d.digest} verified`];
    });
    await this.#phase('unpack', async () => {
      await rmTree(this.dir); // leftovers of an interrupted attempt
      const r = await safeExtract(createReadStream(this.archive), this.dir, { maxBytes: d.maxUnpackedBytes });
      await rm(this.archive, { force: true });
      return [r, `unpacked ${r.files} files, ${r.bytes} bytes`];
    });
    const count = d.instances ?? 1;
    await this.#phase('start', async () => {
      // Housekeeping, not on the way to a healthy app: it runs while the instances boot.
      this.#pruned = this.#pruneLogs(previous);
      for (let i = 0; i < count; i++) {
        this.#started.push(await startInstance(ctx, d, String(i)));
        await writeStarting(ctx.layout, d.appName, this.#started.map(recordOf));
      }
      const sandbox = (await ctx.sandbox).decision.mode;
      const command = d.settings?.startCommand;
      const script = command ? null : await resolveStartCommand(this.dir);
      const how = command ? `sh -c ${JSON.stringify(command)}` : script && 'command' in script ? `npm start (${script.command})` : 'npm start';
      // Names nor values of the config: only how many there are.
      const vars = Object.keys(d.env ?? {}).length;
      const withConfig = vars ? ` and ${vars} config variable${vars === 1 ? '' : 's'}` : '';
      const each = this.#started.map((s) => `as pid ${s.pid}${s.uid == null ? '' : ` uid ${s.uid}`} (sandbox: ${sandbox}) with PORT=${s.port}`);
      const said = each.length === 1 ? each[0] : each.length ? each.map((e, i) => `instance ${i} ${e}`).join('; ') : 'no instance (scale 0)';
      return [null, `${how} ${said}${withConfig}`];
    });
    await this.#phase('health', async () => {
      const answers = await Promise.all(this.#started.map((s) => awaitHealthy(ctx, d, s)));
      const said = answers.length === 1 ? answers[0] : answers.map((a, i) => `instance ${i} ${a}`).join('; ');
      return [null, said || 'no instance to check (scale 0)'];
    });
    await this.#phase('switch', () => this.#switch(previous));
    const pruned = this.#pruned;
    return {
      url: urlOfApp(ctx, ctx.supervisors.get(d.appName), d.appName),
      cleanup: async () => {
        await pruned;
        await removeTreesBut(ctx, d.appName, d.deploymentId);
      },
    };
  }

  /**
   * Stops instances an earlier attempt started but never recorded (its worker was killed before
   * the switch), except any the state file names as current.
   */
  async #stopOrphans(previous: TAppState | null): Promise<void> {
    const { ctx, d } = this;
    const current = new Set((previous?.instances ?? []).map((i) => i.pid));
    const orphans = (await readStarting(ctx.layout, d.appName)).filter((i) => !current.has(i.pid));
    for (const orphan of orphans) await stopLive(ctx, d.appName, orphan);
    if (orphans.length) ctx.log('runtime: stopped instances a killed rollout left behind', { appName: d.appName, pids: orphans.map((o) => o.pid) });
    await clearStarting(ctx.layout, d.appName);
  }

  /** Stops and deletes what this attempt made, unless it became current. Never throws. */
  async undo(): Promise<void> {
    if (this.#committed) return;
    try {
      await this.#pruned;
      for (const s of this.#started) await stopLive(this.ctx, this.d.appName, s);
      await clearStarting(this.ctx.layout, this.d.appName);
      await rmTree(this.dir);
    } catch (err) {
      this.ctx.log('runtime: cleanup after a failed rollout failed', { deploymentId: this.d.deploymentId, error: String(err) });
    }
  }

  async #switch(previous: TAppState | null): Promise<[null, string]> {
    const { ctx, d } = this;
    const sup = new AppSupervisor(ctx, d, this.#started.length);
    for (const s of this.#started) sup.adopt(s);
    try {
      await sup.publish();
    } catch (err) {
      // Not committed: undo() stops the instances, so nothing may check or route them.
      sup.detach();
      ctx.table.setTargets(d.appName, d.deploymentId, []);
      throw err;
    }
    this.#committed = true;
    await clearStarting(ctx.layout, d.appName);
    const old = ctx.supervisors.get(d.appName);
    ctx.supervisors.set(d.appName, sup);
    // From here on new requests go to the new release.
    ctx.table.setCurrent(d.appName, d.deploymentId, sup.targets());
    if (this.#started.length === 0) {
      ctx.table.setState(d.appName, 'stopped');
      sup.health = 'stopped';
    }
    const where = urlOfApp(ctx, sup, d.appName);
    if (!previous && !old) return [null, `serving at ${where}`];
    // Committed: failing to stop the old ones must not fail the rollout that replaced them.
    const leaving: Array<Parameters<typeof stopLive>[2]> = old ? old.detach() : [...(previous?.instances ?? []), ...(previous?.others ?? [])];
    const oldId = old?.d.deploymentId ?? previous?.deploymentId ?? '';
    // Unrouted before stopped: no request may reach a freed port that another tenant could bind.
    if (oldId !== d.deploymentId) ctx.table.removeDeployment(d.appName, oldId);
    const drained = await ctx.table.drain(leaving.map((i) => i.port), ctx.drainMs);
    for (const i of leaving) await stopLive(ctx, d.appName, i);
    const note = drained ? '' : ' (drain timed out)';
    return [null, `serving at ${where}, replaced ${oldId} (${leaving.length} instance${leaving.length === 1 ? '' : 's'} drained and stopped${note})`];
  }

  /** Bounds the logs kept for the app, never touching the current release's or this one's. */
  async #pruneLogs(previous: TAppState | null): Promise<void> {
    const { ctx, d } = this;
    const protect = new Set([d.deploymentId, ...(previous ? [previous.deploymentId] : [])]);
    await pruneAppLogs(appLogsDirOf(ctx.layout, d.appName), ctx.logKeepPerApp, protect).catch((err: unknown) =>
      ctx.log('runtime: could not prune old logs', { appName: d.appName, error: String(err) }),
    );
  }

  async #phase<T>(phase: RolloutPhase, run: () => Promise<[T, string]>): Promise<T> {
    const t0 = performance.now();
    const [value, message] = await run();
    await this.onPhase({ phase, message, durationMs: elapsed(t0) });
    return value;
  }
}

const elapsed = (t0: number) => Math.round(performance.now() - t0);
