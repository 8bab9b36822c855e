import { isNetworkError } from '../errors';

/** How often and how patiently a transient failure is retried. */
export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 250, maxMs: 8_000 };

/** A storage answer that was not 2xx. */
export class StorageHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'StorageHttpError';
  }
}

/** The connection to storage failed (refused, reset, timed out) before an answer came. */
export class StorageNetworkError extends Error {
  constructor(readonly cause: Error) {
    super(`cannot reach object storage: ${cause.message}`);
    this.name = 'StorageNetworkError';
  }
}

/** Network failures and 5xx are worth another attempt; a 4xx will be refused again. */
export function isTransient(err: unknown): boolean {
  return isNetworkError(err) || err instanceof StorageNetworkError || (err instanceof StorageHttpError && err.status >= 500);
}

export const isAbort = (err: unknown, signal?: AbortSignal): boolean =>
  signal?.aborted === true || (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'));

/**
 * Exponential backoff with "equal jitter": half the window fixed, half random, so parallel
 * parts that failed together (a dropped connection pool) do not come back in lockstep.
 */
export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const window = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return window / 2 + Math.random() * (window / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, `decide` returns null (give up, rethrow) or the attempts run out.
 * `decide` returns the delay before the next attempt: backoff for transient errors, 0 to retry
 * at once (a URL to presign again).
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: { policy: RetryPolicy; signal?: AbortSignal; decide?: (err: unknown, attempt: number) => number | null },
): Promise<T> {
  const decide = opts.decide ?? ((err, attempt) => (isTransient(err) ? backoffMs(attempt, opts.policy) : null));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (isAbort(err, opts.signal) || attempt >= opts.policy.attempts) throw err;
      const delay = decide(err, attempt);
      if (delay === null) throw err;
      await sleep(delay, opts.signal);
    }
  }
}
