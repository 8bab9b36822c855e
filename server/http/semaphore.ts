/** Gives a permit back; calling it again is a no-op, so every exit path may call it. */
export type Release = () => void;

interface Waiter {
  grant(): void;
}

/**
 * A counting semaphore for backpressure: callers past the limit wait in FIFO order instead of
 * being refused, and a waiter whose `signal` aborts (its client went away) leaves the queue.
 * A released permit passes straight to the oldest waiter, so a newcomer cannot jump the queue.
 */
export class Semaphore {
  private held = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError('a semaphore needs at least one permit');
  }

  /** Permits currently held. */
  get inUse(): number {
    return this.held;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves with a release function once a permit is held; rejects with the signal's reason. */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.held < this.permits) {
      this.held += 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
      };
      this.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // Handed over: `held` stays the same, the permit just changes owner.
      if (next) next.grant();
      else this.held -= 1;
    };
  }
}
