import { ActionForm } from '../../../_components/action-form';
import type { QueueSummary } from '../../../../server/services/admin/admin.schemas';
import { setPausedAction } from '../actions';

/** Pause or resume: paused, workers finish what they hold and take nothing new. */
export function PauseToggle({ queue }: { queue: QueueSummary }) {
  return (
    <ActionForm
      action={setPausedAction}
      submit={queue.paused ? `Resume ${queue.name}` : `Pause ${queue.name}`}
      pendingLabel={queue.paused ? 'Resuming…' : 'Pausing…'}
      label={`${queue.paused ? 'Resume' : 'Pause'} the ${queue.name} queue`}
    >
      <input type="hidden" name="queue" value={queue.name} />
      <input type="hidden" name="paused" value={queue.paused ? 'false' : 'true'} />
    </ActionForm>
  );
}
