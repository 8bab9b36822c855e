import { ActionForm } from '../../../_components/action-form';
import { ConfirmAction } from '../../../_components/confirm-action';
import { removeJobAction, retryJobAction } from '../actions';

/**
 * Retry (failed jobs) and Remove (anything not running) for one job, on the queue list and the
 * job page alike. `fromJobPage` sends the user back to the queue once the job is gone.
 */
export function JobActions({ queue, job, fromJobPage = false }: { queue: string; job: { id: string; state: string }; fromJobPage?: boolean }) {
  return (
    <>
      {job.state === 'failed' ? (
        <ActionForm action={retryJobAction} submit={fromJobPage ? 'Retry job' : 'Retry'} pendingLabel="Retrying…" label={`Retry job ${job.id}`}>
          <input type="hidden" name="queue" value={queue} />
          <input type="hidden" name="job_id" value={job.id} />
        </ActionForm>
      ) : null}
      {job.state !== 'active' ? (
        <ConfirmAction
          action={removeJobAction}
          fields={fromJobPage ? { queue, job_id: job.id, then: 'queue', state: job.state } : { queue, job_id: job.id }}
          trigger={fromJobPage ? 'Remove job' : 'Remove'}
          title={`Remove job ${job.id}?`}
          body={<p>The job and its record (error, attempts) are deleted from the queue. The work it stood for is not undone.</p>}
          confirm="Remove job"
          danger
        />
      ) : null}
    </>
  );
}
