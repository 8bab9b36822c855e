import Link from 'next/link';
import { notFound } from 'next/navigation';
import { describeError } from '../../../../../../_components/describe-error';
import { ErrorPanel } from '../../../../../../_components/error-panel';
import { formatTime } from '../../../../../../_components/format';
import { getPortalCaller } from '../../../../../../_trpc/server';
import { QUEUE_NAMES, type TQueueName } from '../../../../../../../server/services/admin/admin.schemas';
import styles from '../../../../admin.module.css';
import { AutoRefresh } from '../../../../_components/auto-refresh';
import { JobActions } from '../../../../_components/job-actions';
import { JobState } from '../../../../_components/job-state';
// Next may hand the segment over still percent-encoded (ids like `repeat:pending-gc:…`).
import { safeDecode } from '../../../../../../../server/url-segment';

export const dynamic = 'force-dynamic';

type Params = Promise<{ queue: string; job: string }>;

export async function generateMetadata({ params }: { params: Params }) {
  return { title: `Job ${safeDecode((await params).job)}` };
}


const json = (v: unknown) => JSON.stringify(v, null, 2);
const when = (iso: string | null) => (iso ? <time dateTime={iso}>{formatTime(iso)}</time> : <span className="muted">–</span>);

/** One job: what it works on, its attempts, error and stack, and its (redacted) data. */
export default async function JobPage({ params }: { params: Params }) {
  const session = await getPortalCaller();
  if (!session) return null;
  const p = await params;
  if (!(QUEUE_NAMES as readonly string[]).includes(p.queue)) notFound();
  const queue = p.queue as TQueueName;
  const jobId = safeDecode(p.job);
  let job;
  try {
    job = await session.caller.admin.queues.job({ queue, job_id: jobId });
  } catch (err) {
    const shown = describeError(err);
    return (
      <>
        <p className="crumbs">
          <Link href="/console/admin/queues">Queues</Link> / <Link href={`/console/admin/queues/${queue}`}>{queue}</Link> / {jobId}
        </p>
        <ErrorPanel error={shown} what={shown.code === 'not_found' ? 'It may have been removed or trimmed' : `Loading job ${jobId}`} />
      </>
    );
  }
  return (
    <>
      <p className="crumbs">
        <Link href="/console/admin/queues">Queues</Link> / <Link href={`/console/admin/queues/${queue}?state=${job.state}`}>{queue}</Link> / {job.id}
      </p>
      <div className="row">
        <h1>
          <code>{job.id}</code> <JobState state={job.state} />
        </h1>
        <AutoRefresh />
      </div>
      <section className="card">
        <dl className="facts">
          <div><dt>Job</dt><dd>{job.name}</dd></div>
          <div>
            <dt>Works on</dt>
            <dd>
              {job.subject.kind === 'none' ? '–' : `${job.subject.kind} `}
              {job.subject.id ? <code>{job.subject.id}</code> : null}
              {job.subject.app_name ? <> of <Link href={`/console/apps/${job.subject.app_name}`}>{job.subject.app_name}</Link></> : null}
            </dd>
          </div>
          <div><dt>Attempts</dt><dd>{job.attempts_made} of {job.attempts_max}</dd></div>
          <div><dt>Added</dt><dd>{when(job.added_at)}</dd></div>
          <div><dt>Started</dt><dd>{when(job.processed_at)}</dd></div>
          <div><dt>Finished</dt><dd>{when(job.finished_at)}</dd></div>
        </dl>
        <div className="row-start">
          <JobActions queue={queue} job={job} fromJobPage />
        </div>
      </section>

      {job.failed_reason_full ? (
        <section className="card" aria-labelledby="job-error">
          <h2 id="job-error">Error</h2>
          <pre className={`${styles.pre} ${styles.preBad}`}>{job.failed_reason_full}</pre>
          {job.stacktrace.length > 0 ? (
            <details>
              <summary>Stack of each failed attempt ({job.stacktrace.length})</summary>
              {job.stacktrace.map((s, i) => (
                <pre key={i} className={styles.pre} aria-label={`Stack of failed attempt ${i + 1}`}>{s}</pre>
              ))}
            </details>
          ) : null}
        </section>
      ) : null}

      <section className="card" aria-labelledby="job-data">
        <h2 id="job-data">Data</h2>
        <p className="muted small">Anything that looks secret (tokens, passwords, signatures, signed URL queries) is shown as [redacted].</p>
        <pre className={styles.pre}>{json(job.data)}</pre>
        {job.return_value !== null ? (
          <>
            <h3>Result</h3>
            <pre className={styles.pre}>{json(job.return_value)}</pre>
          </>
        ) : null}
        {job.logs.length > 0 ? (
          <>
            <h3>Job log</h3>
            <pre className={styles.pre}>{job.logs.join('\n')}</pre>
          </>
        ) : null}
      </section>
    </>
  );
}
