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
  /**
   * Calls `onTopic` for every topic published under `prefix`, until the returned function is
   * called. For caches that must not outlive a change: see {@link TopicWatcher.onLive}.
   */
  watch(prefix: string, watcher: TopicWatcher): () => void;
  close(): Promise<void>;
}

export interface TopicWatcher {
  onTopic(topic: string): void;
  /**
   * `true` once the subscription is acknowledged on the current connection; `false` as soon as
   * that connection is lost. Between the two, publishes may be missed: drop what depends on them.
   */
  onLive(live: boolean): void;
}

export function createNotifier(publisher: Redis, makeSubscriber: () => Redis, channel: string): Notifier {
  const waiters = new Map<string, Set<() => void>>();
  const watchers = new Map<TopicWatcher, string>();
  let subscriber: Redis | null = null;
  let live = false;
  // Bumped on every lost connection, so an acknowledgement from an older one is ignored.
  let connection = 0;

  const setLive = (next: boolean) => {
    if (live === next) return;
    live = next;
    for (const watcher of watchers.keys()) watcher.onLive(next);
  };

  const ensureSubscribed = () => {
    if (subscriber) return;
    const sub = makeSubscriber();
    subscriber = sub;
    sub.on('message', (_channel: string, topic: string) => {
      for (const [watcher, prefix] of watchers) if (topic.startsWith(prefix)) watcher.onTopic(topic);
      const set = waiters.get(topic);
      if (!set) return;
      waiters.delete(topic);
      for (const wake of set) wake();
    });
    // ioredis resubscribes by itself on reconnect but says nothing when that is acknowledged:
    // subscribing again on every `ready` (a no-op for Redis) gives a reply to wait for.
    const onReady = () => {
      const at = connection;
      sub.subscribe(channel).then(
        () => {
          if (at === connection && subscriber === sub) setLive(true);
        },
        () => {},
      );
    };
    sub.on('ready', onReady);
    if (sub.status === 'ready') onReady();
    const lost = () => {
      connection++;
      setLive(false);
    };
    sub.on('close', lost);
    sub.on('end', lost);
    sub.on('error', () => {
      // reconnects on its own; waiters fall back to their timers meanwhile
    });
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
    watch(prefix, watcher) {
      watchers.set(watcher, prefix);
      ensureSubscribed();
      watcher.onLive(live);
      return () => {
        if (watchers.delete(watcher)) watcher.onLive(false);
      };
    },
    async close() {
      for (const set of waiters.values()) for (const wake of set) wake();
      waiters.clear();
      connection++;
      setLive(false);
      watchers.clear();
      subscriber?.disconnect();
      subscriber = null;
    },
  };
}

export const artifactTopic = (artifactId: string) => `artifact:${artifactId}`;
export const deploymentTopic = (deploymentId: string) => `deployment:${deploymentId}`;
