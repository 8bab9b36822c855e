import Link from 'next/link';
import { describeError } from '../../../_components/describe-error';
import { ErrorPanel } from '../../../_components/error-panel';
import { getPortalCaller } from '../../../_trpc/server';
import styles from '../admin.module.css';
import { AutoRefresh } from '../_components/auto-refresh';
import { QueuePaused } from '../_components/job-state';
import { PauseToggle } from '../_components/queue-actions';
import { QueueBar, QueueCounts } from '../_components/queue-counts';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Queues' };

const PURPOSE: Record<string, string> = {
  'artifact-verify': 'Checks uploaded artifacts (size, digest, signature) before they can be deployed.',
  rollout: 'Runs deployments: fetch, unpack, start, health check, switch.',
  retention: 'Deletes old artifacts beyond each app’s retention limit.',
  maintenance: 'Periodic sweep: stale uploads, retention passes, gauges.',
  'secrets-rekey': 'Re-encrypts config secrets under the current key after a key rotation.',
};

/** Every queue at a glance: counts per state, paused or not, failures first. */
export default async function QueuesPage() {
  const session = await getPortalCaller();
  if (!session) return null;
  let queues;
  try {
    queues = await session.caller.admin.queues.list();
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading the queues" />;
  }
  const failing = queues.reduce((n, q) => n + q.counts.failed, 0);
  return (
    <>
      <div className="row">
        <h1>Job queues</h1>
        <AutoRefresh />
      </div>
      <p className="muted">
        {failing === 0 ? 'No failed jobs.' : `${failing} failed job${failing === 1 ? '' : 's'} waiting for a look.`} Counts are live from Redis.
      </p>
      <div className={styles.queues}>
        {queues.map((q) => (
          <section key={q.name} className={`card ${styles.queueCard}`} aria-labelledby={`q-${q.name}`} data-queue={q.name}>
            <div className="row">
              <h2 id={`q-${q.name}`}>
                <Link href={`/console/admin/queues/${q.name}?state=${q.counts.failed > 0 ? 'failed' : 'active'}`}>{q.name}</Link>
              </h2>
              <QueuePaused paused={q.paused} />
            </div>
            <p className="muted small" style={{ margin: 0 }}>{PURPOSE[q.name]}</p>
            <QueueBar queue={q} />
            <QueueCounts queue={q} />
            <PauseToggle queue={q} />
          </section>
        ))}
      </div>
    </>
  );
}
