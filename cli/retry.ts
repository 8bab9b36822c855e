import { setTimeout as sleep } from 'node:timers/promises';
import { formatSecs, nextRetryDelay, readRetryMaxSecs } from './retry-policy';

/** How long a command waits out an unavailable control plane, and where it says so. */
export interface RetrySettings {
  maxWaitMs: number;
  /** Told one line per wait: the command's Output (stderr), so stdout stays the result. */
  say(line: string): void;
}

export function retrySettings(env: { AETHER_RETRY_MAX_SECS?: string }, say: (line: string) => void): RetrySettings {
  return { maxWaitMs: readRetryMaxSecs(env.AETHER_RETRY_MAX_SECS) * 1000, say };
}

/** A failure worth waiting out: what to tell the user, and when the server asked to be called again. */
export interface Unavailable {
  what: string;
  retryAfterMs?: number;
}

/** What a call that gave up had spent; the error mapping says it in the final message. */
export interface RetryHistory {
  attempts: number;
  elapsedMs: number;
}

// Keyed by the error object: the error thrown stays the original (a TRPCClientError the callers inspect).
const histories = new WeakMap<object, RetryHistory>();

export function retryHistory(err: unknown): RetryHistory | undefined {
  return typeof err === 'object' && err !== null ? histories.get(err) : undefined;
}

/** "; still unavailable after 1m 0s (9 attempts)" for an error that was retried before it gave up, else "". */
export function waitedFor(err: unknown): string {
  const history = retryHistory(err);
  return history && history.attempts > 1
    ? `; still unavailable after ${formatSecs(history.elapsedMs)} (${history.attempts} attempts)`
    : '';
}

/**
 * Runs `fn` again while `classify` calls its failure one to wait out, pacing by retry-policy.ts,
 * until the budget is spent; then rethrows the last error with its history recorded. Aborting
 * `signal` ends a wait at once (rejecting with the abort error).
 */
export async function retryWhileUnavailable<T>(
  fn: () => Promise<T>,
  opts: { settings: RetrySettings; classify: (err: unknown) => Unavailable | null; signal?: AbortSignal },
): Promise<T> {
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const why = opts.signal?.aborted ? null : opts.classify(err);
      if (!why) throw err;
      const elapsedMs = performance.now() - started;
      const delay = nextRetryDelay({
        attempt,
        elapsedMs,
        budgetMs: opts.settings.maxWaitMs,
        retryAfterMs: why.retryAfterMs,
      });
      if (delay === null) {
        if (typeof err === 'object' && err !== null) histories.set(err, { attempts: attempt, elapsedMs });
        throw err;
      }
      opts.settings.say(`${why.what}: retrying in ${formatSecs(delay)} (attempt ${attempt + 1})`);
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
