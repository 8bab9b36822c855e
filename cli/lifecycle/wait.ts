import type { TApp, TDeploymentEvent } from '../../server/contract/outputs';
import { CliError, EXIT } from '../errors';

/** What the control plane's lifecycle job records on the running deployment when it is done. */
export type LifecyclePhase = 'scale' | 'restart';

/** The reads the wait needs, so tests can drive it with a scripted control plane. */
export interface HealthSource {
  app(): Promise<TApp>;
  /** The running deployment's events after `afterId` (none when nothing runs). */
  eventsAfter(afterId: number): Promise<TDeploymentEvent[]>;
}

export interface WaitOptions {
  phase: LifecyclePhase;
  /** Last event id seen before the change was asked for: only later events count. */
  afterId: number;
  /** `healthy` after scale/start/restart, `stopped` after stop. */
  target: 'healthy' | 'stopped';
  timeoutMs: number;
  /** Between polls of apps.get; default 500 ms. */
  intervalMs?: number;
  onProgress?: (app: TApp) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits until the lifecycle job has run (its event lands on the running deployment) and the
 * app's health is the target. The health recorded before the job ran is stale, hence the event
 * first. A crash loop, a failed job or the deadline end the wait with an error (exit 20).
 */
export async function waitForHealth(src: HealthSource, opts: WaitOptions): Promise<TApp> {
  const sleep = opts.sleep ?? defaultSleep;
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.timeoutMs;
  let afterId = opts.afterId;
  let jobDone = false;
  let lastHealth: TApp['health'] | undefined;
  for (;;) {
    if (!jobDone) {
      const events = await src.eventsAfter(afterId);
      for (const e of events) {
        afterId = Math.max(afterId, e.id);
        if (e.phase !== opts.phase) continue;
        if (/ failed: /.test(e.message)) throw new CliError(EXIT.runtime, e.message, 'aether logs shows what the app printed', 'lifecycle_failed');
        jobDone = true;
      }
    }
    const app = await src.app();
    if (app.health !== lastHealth) opts.onProgress?.(app);
    lastHealth = app.health;
    if (app.health === 'crash_loop') {
      throw new CliError(EXIT.runtime, `${app.name} is in a crash loop: ${app.health_message ?? 'no message'}`, `aether logs --app ${app.name} shows its last output`, 'crash_loop');
    }
    if (jobDone && app.health === opts.target) return app;
    if (now() >= deadline) {
      const seen = app.health ?? 'not reported';
      const why = jobDone ? `health is still ${seen}` : 'the change has not been applied yet';
      throw new CliError(EXIT.runtime, `${app.name} is not ${opts.target} after ${Math.round(opts.timeoutMs / 1000)}s: ${why}`, 'aether list shows it later; --timeout waits longer', 'timeout');
    }
    await sleep(opts.intervalMs ?? 500);
  }
}
