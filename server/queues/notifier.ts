import type { Redis } from 'ioredis';

/**
 * Change notifications across processes over Redis pub/sub: the worker that moves an artifact
 * or deployment publishes its id, and long-polls waiting on it (in any web process) wake at
 * once instead of on their next poll. Best effort by design: waiters still re-read the
 * database on a slow timer, so a lost message only costs latency.
 */
export interface Notifier {
  publish(topic: string): Promise<void>;
  /** `changed` resolves on the next publish of `topic`, or after `ms`; `cancel` drops the wait. */
  next(topic: string, ms: number): { changed: Promise<void>; cancel(): void };
  close(): Promise<void>;
}

export function createNotifier(publisher: Redis, makeSubscriber: () => Redis, channel: string): Notifier {
  const waiters = new Map<string, Set<() => void>>();
  let subscriber: Redis | null = null;

  const ensureSubscribed = () => {
    if (subscriber) return;
    subscriber = makeSubscriber();
    subscriber.on('message', (_channel: string, topic: string) => {
      const set = waiters.get(topic);
      if (!set) return;
      waiters.delete(topic);
      for (const wake of set) wake();
    });
    subscriber.on('error', () => {
      // reconnects on its own; waiters fall back to their timers meanwhile
    });
    void subscriber.subscribe(channel).catch(() => {});
  };

  return {
    async publish(topic) {
      await publisher.publish(channel, topic).catch(() => 0);
    },
    next(topic, ms) {
      ensureSubscribed();
      let wake = () => {};
      const changed = new Promise<void>((resolve) => {
        const set = waiters.get(topic) ?? new Set();
        wake = () => {
          clearTimeout(timer);
          set.delete(wake);
          if (set.size === 0 && waiters.get(topic) === set) waiters.delete(topic);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        set.add(wake);
        waiters.set(topic, set);
      });
      return { changed, cancel: () => wake() };
    },
    async close() {
      for (const set of waiters.values()) for (const wake of set) wake();
      waiters.clear();
      subscriber?.disconnect();
      subscriber = null;
    },
  };
}

export const artifactTopic = (artifactId: string) => `artifact:${artifactId}`;
export const deploymentTopic = (deploymentId: string) => `deployment:${deploymentId}`;
