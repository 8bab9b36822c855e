import type { Metrics, Queue } from 'bullmq';
import { QUEUE_DEFS } from '../../queues/definitions';
import type { Queues } from '../../queues/producers';

export interface QueueThroughput {
  name: string;
  completed: number;
  failed: number;
  /** Jobs finished per bucket, aligned with the dashboard's buckets. */
  points: { t: string; completed: number; failed: number }[];
}

const MINUTE = 60_000;

/**
 * Per-minute counts from BullMQ's metrics (the workers record them: jobs/start.ts), as a map
 * from minute (epoch minutes) to jobs finished. BullMQ pushes a minute's count when the next
 * job finishes in a later minute: `data[i]` is minute `floor(prevTS / 1 min) - 1 - i`, and
 * what was counted since (`count - prevCount`) belongs to the minute of `prevTS`.
 */
export function minutesOf(m: Metrics): Map<number, number> {
  const out = new Map<number, number>();
  if (!m.meta.prevTS) return out;
  const last = Math.floor(m.meta.prevTS / MINUTE);
  m.data.forEach((n, i) => {
    if (n) out.set(last - 1 - i, n);
  });
  const pending = m.meta.count - m.meta.prevCount;
  if (pending > 0) out.set(last, pending);
  return out;
}

function bucketed(minutes: Map<number, number>, fromSecs: number, bucketSecs: number, n: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (const [minute, jobs] of minutes) {
    const i = Math.floor((minute * 60 - fromSecs) / bucketSecs);
    if (i >= 0 && i < n) out[i]! += jobs;
  }
  return out;
}

/** Completed and failed jobs per queue and bucket since `fromSecs`. */
export async function queueThroughput(queues: Queues, fromSecs: number, bucketSecs: number, n: number, now: Date): Promise<QueueThroughput[]> {
  const wantedMinutes = Math.ceil((now.getTime() / 1000 - fromSecs) / 60) + 1;
  return Promise.all(
    (Object.keys(QUEUE_DEFS) as (keyof typeof QUEUE_DEFS)[]).map(async (key) => {
      const queue = queues[key] as unknown as Queue;
      const [completed, failed] = await Promise.all([queue.getMetrics('completed', 0, wantedMinutes), queue.getMetrics('failed', 0, wantedMinutes)]);
      const c = bucketed(minutesOf(completed), fromSecs, bucketSecs, n);
      const f = bucketed(minutesOf(failed), fromSecs, bucketSecs, n);
      return {
        name: QUEUE_DEFS[key].name,
        completed: c.reduce((a, x) => a + x, 0),
        failed: f.reduce((a, x) => a + x, 0),
        points: c.map((completedN, i) => ({ t: new Date((fromSecs + i * bucketSecs) * 1000).toISOString(), completed: completedN, failed: f[i]! })),
      };
    }),
  );
}
