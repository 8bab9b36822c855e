import { readCounters } from './cgroups';
import { diskUsage } from './disk-usage';

export type LimitKind = 'memory' | 'pids' | 'disk';

/** A limit an instance ran into; `message` is what its deployment's event says. */
export interface LimitHit {
  kind: LimitKind;
  message: string;
}

export interface WatchedLimits {
  /** The instance's cgroup dirs (empty without cgroups: only the disk is watched). */
  cgroups: string[];
  appDir: string;
  memoryBytes: number;
  pids: number;
  diskBytes: number;
}

const mib = (n: number) => `${Math.round((n / 1024 ** 2) * 10) / 10} MiB`;

/** The first limit the instance has hit so far, or null. */
export async function limitHit(w: WatchedLimits): Promise<LimitHit | null> {
  const c = await readCounters(w.cgroups);
  if (c.oomKills > 0) {
    const message = `memory limit of ${mib(w.memoryBytes)} reached: the kernel killed a process of the app (out of memory)`;
    return { kind: 'memory', message };
  }
  if (c.pidsMaxHits > 0) {
    const message = `process limit of ${w.pids} reached: the app tried to run more processes (fork bomb?)`;
    return { kind: 'pids', message };
  }
  const used = await diskUsage(w.appDir, w.diskBytes);
  // The usage itself is left out: it depends on when the check ran, the limit does not.
  if (used > w.diskBytes) return { kind: 'disk', message: `disk limit of ${mib(w.diskBytes)} reached by the app's directory` };
  return null;
}

/**
 * Checks `w` every `intervalMs` and calls `onHit` once with the first limit hit, then stops.
 * Returns the function that stops it earlier. The timer never keeps the process alive.
 */
export function watchLimits(w: WatchedLimits, intervalMs: number, onHit: (hit: LimitHit) => void): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const hit = await limitHit(w).catch(() => null);
    if (stopped) return;
    if (hit) {
      stopped = true;
      onHit(hit);
      return;
    }
    timer = setTimeout(() => void tick(), intervalMs);
    timer.unref();
  };
  timer = setTimeout(() => void tick(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
