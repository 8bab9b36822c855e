import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** The HTTP status `GET http://127.0.0.1:<port><path>` answers with, or null (refused, timed out). */
export function probe(port: number, timeoutMs = 2000, path = '/'): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** Any answer below 500 means the app is up; 5xx means it runs but cannot serve yet. */
export const isHealthyStatus = (status: number | null) => status !== null && status < 500;

export type HealthOutcome =
  | { kind: 'healthy'; status: number }
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'timeout'; lastStatus: number | null };

/**
 * Polls `GET <path>` until the app answers healthily, its process exits, or `timeoutMs`
 * passes, whichever comes first.
 */
export async function waitHealthy(
  port: number,
  timeoutMs: number,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  path = '/',
): Promise<HealthOutcome> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  void exited.then((e) => (exit = e));
  const deadline = Date.now() + timeoutMs;
  let lastStatus: number | null = null;
  // Short pauses: the rollout waits on this poll, and a refused connect to 127.0.0.1 costs
  // next to nothing, so a 10 ms cap loses at most 10 ms for ~100 probes a second while it waits.
  for (let delay = 5; ; delay = 10) {
    if (exit) return { kind: 'exited', ...(exit as { code: number | null; signal: NodeJS.Signals | null }) };
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { kind: 'timeout', lastStatus };
    const status = await probe(port, Math.min(2000, remaining), path);
    if (isHealthyStatus(status)) return { kind: 'healthy', status: status as number };
    // A probe cut short by the deadline must not forget the 5xx the app answered before it.
    if (status !== null) lastStatus = status;
    await Promise.race([sleep(Math.min(delay, Math.max(0, deadline - Date.now()))), exited]);
  }
}
