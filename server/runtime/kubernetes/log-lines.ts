import { createInterface } from 'node:readline';
import type { LogEntry } from '../port';
import type { KubeApi } from './client';

/**
 * Parsing and reading pod log lines requested with `timestamps=true`: each line starts with an
 * RFC 3339 time with up to nanoseconds, trailing zeros trimmed (Go's RFC3339Nano), which does
 * not sort as text. The key pads the fraction to 9 digits so it does.
 */

const TS_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}) /;

export interface KeyedEntry extends LogEntry {
  /** Sortable time key ('' when the line had no timestamp). */
  key: string;
}

export function parseLogLine(raw: string, source: string): KeyedEntry {
  const m = TS_RE.exec(raw);
  if (!m) return { time: null, source, line: raw, key: '' };
  const whole = m[0];
  const secs = m[1] as string;
  const zone = m[3] as string;
  const fraction = (m[2] ?? '').padEnd(9, '0');
  // Kubelet writes UTC; another zone is converted so keys stay comparable.
  const utcSecs = zone === 'Z' ? secs : new Date(`${secs}${zone}`).toISOString().slice(0, 19);
  const time = `${utcSecs}.${fraction}Z`;
  return { time, source, line: raw.slice(whole.length), key: time };
}

/** Orders entries by time; ties (and untimed lines) keep their order. */
export function mergeByTime(entries: KeyedEntry[]): KeyedEntry[] {
  return entries
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.key < b.e.key ? -1 : a.e.key > b.e.key ? 1 : a.i - b.i))
    .map(({ e }) => e);
}

export const toEntry = ({ time, source, line, instance }: KeyedEntry): LogEntry => (instance === undefined ? { time, source, line } : { time, source, line, instance });

export interface PodLogOptions {
  follow: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: string;
  previous?: boolean;
}

/**
 * Lines of one container's log as they arrive. Ends when the API server ends the response
 * (not following, the pod went away), the connection drops, or `signal` aborts.
 */
export async function* readPodLog(
  api: KubeApi,
  pod: string,
  container: string,
  opts: PodLogOptions,
  signal?: AbortSignal,
): AsyncGenerator<KeyedEntry> {
  const local = new AbortController();
  const stop = () => local.abort();
  signal?.addEventListener('abort', stop, { once: true });
  const source = `${pod}/${container}`;
  try {
    if (signal?.aborted) return;
    const res = await api.podLog(pod, container, opts, local.signal);
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const raw of lines) {
        // The pod is the instance (`aether logs --instance <pod>`).
        if (raw !== '') yield { ...parseLogLine(raw, source), instance: pod };
      }
    } catch (err) {
      // A dropped or aborted connection is the end of this read; callers decide to resume.
      if (!local.signal.aborted && (err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as Error).message !== 'aborted') throw err;
    }
  } catch (err) {
    if (!local.signal.aborted) throw err;
  } finally {
    signal?.removeEventListener('abort', stop);
    local.abort();
  }
}

/** The whole (bounded) log of one container. */
export async function collectPodLog(api: KubeApi, pod: string, container: string, opts: Omit<PodLogOptions, 'follow'>): Promise<KeyedEntry[]> {
  const entries: KeyedEntry[] = [];
  for await (const e of readPodLog(api, pod, container, { ...opts, follow: false })) entries.push(e);
  return entries;
}
