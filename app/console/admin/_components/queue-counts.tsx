import Link from 'next/link';
import type { QueueSummary } from '../../../../server/services/admin/admin.schemas';
import styles from '../admin.module.css';
import { STATE_ORDER, stateLabel } from './job-state';

/** Counts per state as links to that state's jobs; failed first, since it needs a person. */
export function QueueCounts({ queue, current }: { queue: QueueSummary; current?: string }) {
  return (
    <ul className={styles.counts} aria-label={`${queue.name} jobs by state`}>
      {STATE_ORDER.filter((s) => s !== 'waiting-children' || queue.counts[s] > 0).map((state) => (
        <li key={state} className={state === 'failed' && queue.counts.failed > 0 ? styles.countFailed : undefined}>
          <Link
            href={`/console/admin/queues/${queue.name}?state=${state}`}
            aria-current={current === state ? 'page' : undefined}
            data-state={state}
          >
            {stateLabel(state)} <strong>{queue.counts[state]}</strong>
          </Link>
        </li>
      ))}
    </ul>
  );
}

/** The queue's jobs as one bar: how much is failing against what is flowing. */
export function QueueBar({ queue }: { queue: QueueSummary }) {
  const c = queue.counts;
  const parts: [string, number, string][] = [
    ['failed', c.failed, styles.segFailed!],
    ['running', c.active, styles.segActive!],
    ['queued', c.waiting + c.delayed + c.prioritized, styles.segWaiting!],
    ['succeeded', c.completed, styles.segCompleted!],
  ];
  const total = parts.reduce((n, [, v]) => n + v, 0);
  if (total === 0) return <div className={styles.stackBar} aria-hidden="true" />;
  return (
    <div className={styles.stackBar} role="img" aria-label={parts.map(([l, v]) => `${v} ${l}`).join(', ')}>
      {parts.map(([label, v, cls]) => (v > 0 ? <span key={label} className={cls} style={{ width: `${(v / total) * 100}%` }} /> : null))}
    </div>
  );
}
