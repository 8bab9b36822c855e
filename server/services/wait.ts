import type { Notifier } from '../queues/notifier';

// A safety net only: waiters normally wake on the notifier as soon as the state changes.
const FALLBACK_POLL_MS = 1000;

/**
 * Server-side long-poll: re-reads `load` until `settled` or the deadline, waking as soon as
 * `topic` is published (the worker that changed the row publishes it), so a client waits with
 * one request per ~20 s and still hears of the outcome within milliseconds.
 */
export async function waitUntil<T>(
  notifier: Notifier,
  topic: string,
  load: () => Promise<T>,
  settled: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Subscribe before reading, so a change between the read and the wait is not missed.
    const wait = notifier.next(topic, Math.min(FALLBACK_POLL_MS, Math.max(0, deadline - Date.now())));
    const value = await load().catch((err: unknown) => {
      wait.cancel();
      throw err;
    });
    if (settled(value) || Date.now() >= deadline) {
      wait.cancel();
      return value;
    }
    await wait.changed;
  }
}
