import Link from 'next/link';
import { notFound } from 'next/navigation';
import { ActionForm } from '../../../../_components/action-form';
import { ConfirmAction } from '../../../../_components/confirm-action';
import { describeError } from '../../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../../_components/error-panel';
import { formatAgo, formatTime } from '../../../../_components/format';
import { getPortalCaller } from '../../../../_trpc/server';
import { JOB_STATES, QUEUE_NAMES, type TJobState, type TQueueName } from '../../../../../server/services/admin/admin.schemas';
import styles from '../../admin.module.css';
import { cleanQueueAction, retryAllFailedAction } from '../../actions';
import { AutoRefresh } from '../../_components/auto-refresh';
import { JobActions } from '../../_components/job-actions';
import { JobState, QueuePaused, stateLabel } from '../../_components/job-state';
import { PauseToggle } from '../../_components/queue-actions';
import { QueueCounts } from '../../_components/queue-counts';

export const dynamic = 'force-dynamic';

type Params = Promise<{ queue: string }>;
type Search = Promise<Record<string, string | string[] | undefined>>;

const PAGE_SIZE = 25;
const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? '';

export async function generateMetadata({ params }: { params: Params }) {
  return { title: `Queue ${(await params).queue}` };
}

/** One queue, bull-board style: jobs of a state, searchable by app or id, with the levers. */
export default async function QueuePage({ params, searchParams }: { params: Params; searchParams: Search }) {
  const session = await getPortalCaller();
  if (!session) return null;
  const name = (await params).queue;
  if (!(QUEUE_NAMES as readonly string[]).includes(name)) notFound();
  const queue = name as TQueueName;
  const sp = await searchParams;
  const state = ((JOB_STATES as readonly string[]).includes(one(sp.state)) ? one(sp.state) : 'failed') as TJobState;
  const search = one(sp.q).trim();
  const page = Math.max(0, Math.floor(Number(one(sp.page)) || 0));

  let summary, jobs;
  try {
    [summary, jobs] = await Promise.all([
      session.caller.admin.queues.list().then((all) => all.find((q) => q.name === queue)!),
      session.caller.admin.queues.jobs({ queue, state, search: search || undefined, offset: page * PAGE_SIZE, limit: PAGE_SIZE }),
    ]);
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what={`Loading queue ${queue}`} />;
  }
  const href = (p: number) => `/console/admin/queues/${queue}?state=${state}${search ? `&q=${encodeURIComponent(search)}` : ''}${p ? `&page=${p}` : ''}`;
  const now = Date.now();
  const lastPage = Math.max(0, Math.ceil(jobs.total / PAGE_SIZE) - 1);

  return (
    <>
      <p className="crumbs">
        <Link href="/console/admin/queues">Queues</Link> / {queue}
      </p>
      <div className="row">
        <h1>
          {queue} <QueuePaused paused={summary.paused} />
        </h1>
        <AutoRefresh />
      </div>
      <QueueCounts queue={summary} current={state} />

      <div className={styles.toolbar}>
        <form role="search" method="get" action={`/console/admin/queues/${queue}`} className="search">
          <input type="hidden" name="state" value={state} />
          <label htmlFor="job-search" className="sr-only">Search jobs by app name, deployment, artifact or job id</label>
          <input id="job-search" name="q" type="search" placeholder="App name, deployment or job id" defaultValue={search} />
          <button type="submit" className="secondary">Search</button>
        </form>
        <PauseToggle queue={summary} />
        {summary.counts.failed > 0 ? (
          <ConfirmAction
            action={retryAllFailedAction}
            fields={{ queue }}
            trigger={`Retry all ${summary.counts.failed} failed`}
            title={`Retry every failed job in ${queue}?`}
            body={<p>{summary.counts.failed} job(s) go back to the queue and run again with a fresh set of attempts.</p>}
            confirm="Retry all"
          />
        ) : null}
        <details>
          <summary className="secondary">Clean…</summary>
          <ActionForm action={cleanQueueAction} submit="Clean" pendingLabel="Cleaning…" label={`Clean jobs out of ${queue}`}>
            <input type="hidden" name="queue" value={queue} />
            <label htmlFor="clean-state">Remove</label>
            <select id="clean-state" name="state" defaultValue="completed">
              {(['completed', 'failed', 'waiting', 'delayed'] as const).map((s) => (
                <option key={s} value={s}>{stateLabel(s)} jobs</option>
              ))}
            </select>
            <label htmlFor="clean-age">older than (hours)</label>
            <input id="clean-age" name="older_than_hours" type="number" min="0" step="any" defaultValue="24" style={{ width: '6rem' }} />
          </ActionForm>
        </details>
      </div>

      <h2>
        {stateLabel(state)} jobs{search ? ` matching “${search}”` : ''} <span className="count">{jobs.total}</span>
      </h2>
      {jobs.scanned !== null ? <p className="muted small">Searched the newest {jobs.scanned} {stateLabel(state)} jobs.</p> : null}
      {jobs.jobs.length === 0 ? (
        <Empty>{search ? `No ${stateLabel(state)} job matches “${search}”.` : `No ${stateLabel(state)} jobs in ${queue}.`}</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">{`${stateLabel(state)} jobs in ${queue}`}</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">App</th>
                <th scope="col">State</th>
                <th scope="col">Attempts</th>
                <th scope="col">{state === 'failed' ? 'Error' : 'Added'}</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {jobs.jobs.map((job) => (
                <tr key={job.id} data-job={job.id}>
                  <th scope="row">
                    <Link href={`/console/admin/queues/${queue}/jobs/${encodeURIComponent(job.id)}`}><code>{job.id}</code></Link>
                    <div className="muted small">{job.name}</div>
                  </th>
                  <td data-label="App">
                    {job.subject.app_name ? <Link href={`/console/apps/${job.subject.app_name}`}>{job.subject.app_name}</Link> : <span className="muted">{job.subject.kind === 'none' ? '–' : 'unknown'}</span>}
                    {job.subject.id ? <div className="muted small">{job.subject.kind} <code>{job.subject.id.slice(0, 8)}</code></div> : null}
                  </td>
                  <td data-label="State"><JobState state={job.state} /></td>
                  <td data-label="Attempts">{job.attempts_made} / {job.attempts_max}</td>
                  <td data-label={state === 'failed' ? 'Error' : 'Added'}>
                    {state === 'failed' ? <span className={styles.reason}>{job.failed_reason ?? 'no reason recorded'}</span> : null}
                    {job.finished_at ?? job.added_at ? (
                      <div className="muted small">
                        <time dateTime={(job.finished_at ?? job.added_at)!} title={formatTime((job.finished_at ?? job.added_at)!)}>{formatAgo((job.finished_at ?? job.added_at)!, now)}</time>
                      </div>
                    ) : null}
                  </td>
                  <td data-label="Actions">
                    <div className="row-start" style={{ marginTop: 0 }}>
                      <JobActions queue={queue} job={job} />
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {lastPage > 0 ? (
        <nav className={styles.pager} aria-label="Pages">
          {page > 0 ? <Link href={href(page - 1)}>← Newer</Link> : null}
          <span className="muted">page {page + 1} of {lastPage + 1}</span>
          {page < lastPage ? <Link href={href(page + 1)}>Older →</Link> : null}
        </nav>
      ) : null}
    </>
  );
}
