import { setTimeout as sleep } from 'node:timers/promises';
import type { LogEntry, LogQuery } from '../port';
import type { KubeApi } from './client';
import { collectPodLog, mergeByTime, readPodLog, toEntry, type KeyedEntry } from './log-lines';
import { AppError } from '../../errors';
import { APP_CONTAINER, deploymentSelector, isDns1123Label, isDns1123Subdomain } from './names';

/**
 * A deployment's output from its pods (selected by `deployment_id`), merged by timestamp:
 * the last `tail` entries across all pods, then with `follow` new entries as they arrive,
 * from every pod, also pods that start later. A follow connection that drops is resumed
 * from the last timestamp seen, without repeating lines.
 */
export async function* kubernetesLogs(
  api: KubeApi,
  target: { deploymentId: string; appName: string },
  q: LogQuery,
  pollMs: number,
): AsyncGenerator<LogEntry> {
  const container = q.container ?? APP_CONTAINER;
  if (!isDns1123Label(container)) throw new Error(`invalid container name ${JSON.stringify(container)}`);
  const selector = deploymentSelector(target.appName, target.deploymentId);
  if (q.instance !== undefined && !isDns1123Subdomain(q.instance)) throw new AppError('bad_request', `invalid instance ${JSON.stringify(q.instance)}: a pod name`);
  // With `q.instance`, only that pod: one that does not exist (or no longer) has no lines.
  const podNames = async () =>
    (await api.listPods(selector))
      .filter((p) => !p.metadata?.deletionTimestamp && (q.instance === undefined || p.metadata?.name === q.instance))
      .map((p) => String(p.metadata?.name));

  const pods = (await podNames()).sort();
  const readAt = new Date().toISOString().replace('Z', '000000Z');
  const history = q.tail > 0 ? await readHistory(api, pods, container, q) : [];
  for (const e of history) yield toEntry(e);
  if (!q.follow || q.signal?.aborted) return;

  // Following resumes where the history ended, for every pod: at its newest line (the
  // cluster's clock), or, with no history, when it was read. Older lines are not wanted:
  // the tail left them out on purpose.
  const last = history.findLast((e) => e.key);
  const cutoff = last?.key ?? readAt;
  const cursors = new Map<string, Cursor>();
  for (const pod of pods) {
    const atCutoff = history.filter((e) => e.key === cutoff && e.source.startsWith(`${pod}/`)).map((e) => e.line);
    cursors.set(pod, { key: cutoff, seen: new Set(atCutoff) });
  }
  yield* followAll(api, container, cursors, podNames, q.signal, pollMs);
}

/**
 * The last `q.tail` lines across pods. A pod whose container has not started yet adds none
 * (followers pick it up later); any other failure of every pod (unknown container, API down)
 * is an error.
 */
async function readHistory(api: KubeApi, pods: string[], container: string, q: LogQuery): Promise<KeyedEntry[]> {
  const perPod = await Promise.allSettled(pods.map((pod) => collectPodLog(api, pod, container, { tailLines: q.tail, sinceSeconds: q.sinceSecs })));
  const read = perPod.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const errors = perPod.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  const real = errors.find((e) => !/waiting to start/.test(e.message));
  if (read.length === 0 && real) throw real;
  return mergeByTime(read.flat()).slice(-q.tail);
}

interface Cursor {
  /** Time key of the last line delivered. */
  key: string;
  /** Lines delivered at exactly that key (a resumed read repeats them). */
  seen: Set<string>;
}

function advance(cursor: Cursor, e: KeyedEntry): void {
  if (!e.key || e.key < cursor.key) return;
  if (e.key !== cursor.key) {
    cursor.key = e.key;
    cursor.seen.clear();
  }
  cursor.seen.add(e.line);
}

/** Whether `e` was already delivered before a resume (same or older timestamp). */
function alreadySeen(cursor: Cursor, e: KeyedEntry): boolean {
  if (!e.key || !cursor.key) return false;
  return e.key < cursor.key || (e.key === cursor.key && cursor.seen.has(e.line));
}

const FOLLOW_HIGH_WATER = 1000;

/** Fans the per-pod followers into one stream; ends when aborted or every pod is gone. */
async function* followAll(
  api: KubeApi,
  container: string,
  cursors: Map<string, Cursor>,
  podNames: () => Promise<string[]>,
  signal: AbortSignal | undefined,
  pollMs: number,
): AsyncGenerator<LogEntry> {
  const queue: LogEntry[] = [];
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  // Past this many undelivered lines the pod readers wait, so a slow client slows the reads
  // (TCP pushes back to the API server) instead of growing the control plane's heap.
  let blocked: Array<() => void> = [];
  const release = () => {
    for (const resume of blocked) resume();
    blocked = [];
  };
  const stop = new AbortController();
  signal?.addEventListener('abort', () => stop.abort(), { once: true });
  stop.signal.addEventListener('abort', notify, { once: true });
  stop.signal.addEventListener('abort', release, { once: true });
  const running = new Map<string, Promise<void>>();
  const push = async (e: LogEntry) => {
    queue.push(e);
    notify();
    while (queue.length >= FOLLOW_HIGH_WATER && !stop.signal.aborted) await new Promise<void>((resume) => blocked.push(resume));
  };

  const start = (pod: string, cursor: Cursor) => {
    const task = followPod(api, pod, container, cursor, stop.signal, pollMs, podNames, push).finally(() => {
      running.delete(pod);
      notify();
    });
    running.set(pod, task);
  };
  for (const [pod, cursor] of cursors) start(pod, cursor);

  // New pods (a restart, a scale-up) are picked up by listing again now and then.
  const discover = (async () => {
    while (!stop.signal.aborted) {
      await sleep(Math.max(pollMs, 200), undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) return;
      const names = await podNames().catch(() => null);
      if (names === null) continue;
      for (const pod of names) {
        if (!cursors.has(pod)) {
          const cursor = { key: '', seen: new Set<string>() };
          cursors.set(pod, cursor);
          start(pod, cursor);
        }
      }
      if (names.length === 0 && running.size === 0) {
        stop.abort();
        return;
      }
    }
  })();

  try {
    while (!stop.signal.aborted || queue.length) {
      const next = queue.shift();
      if (queue.length < FOLLOW_HIGH_WATER) release();
      if (next) {
        yield next;
        continue;
      }
      if (stop.signal.aborted) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stop.abort();
    await Promise.allSettled([...running.values(), discover]);
  }
}

/** Follows one pod until it is gone or `signal` aborts, resuming after a dropped connection. */
async function followPod(
  api: KubeApi,
  pod: string,
  container: string,
  cursor: Cursor,
  signal: AbortSignal,
  pollMs: number,
  podNames: () => Promise<string[]>,
  push: (e: LogEntry) => Promise<void>,
): Promise<void> {
  while (!signal.aborted) {
    // sinceTime has whole-second precision: re-read that second and skip what was delivered.
    const sinceTime = cursor.key ? `${cursor.key.slice(0, 19)}Z` : undefined;
    try {
      for await (const e of readPodLog(api, pod, container, { follow: true, sinceTime }, signal)) {
        if (alreadySeen(cursor, e)) continue;
        advance(cursor, e);
        await push(toEntry(e));
      }
    } catch {
      // A failed read (pod being deleted, API hiccup) is retried while the pod exists.
    }
    if (signal.aborted) return;
    const names = await podNames().catch(() => [pod]);
    if (!names.includes(pod)) return;
    await sleep(pollMs, undefined, { signal }).catch(() => {});
  }
}
