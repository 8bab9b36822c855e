import { Badge } from '../../../_components/status';

type Tone = 'ok' | 'bad' | 'busy' | 'idle';

/** BullMQ's job states in the words the rest of the portal uses for asynchronous work. */
export const JOB_STATE_LABELS: Record<string, [Tone, string]> = {
  waiting: ['busy', 'queued'],
  prioritized: ['busy', 'queued (priority)'],
  delayed: ['busy', 'delayed'],
  'waiting-children': ['busy', 'waiting on children'],
  active: ['busy', 'running'],
  completed: ['ok', 'succeeded'],
  failed: ['bad', 'failed'],
  unknown: ['idle', 'gone'],
};

/** Tab order on a queue page: what needs attention first. */
export const STATE_ORDER = ['failed', 'active', 'waiting', 'delayed', 'prioritized', 'completed', 'waiting-children'] as const;

export const stateLabel = (state: string) => JOB_STATE_LABELS[state]?.[1] ?? state;

export function JobState({ state }: { state: string }) {
  const [tone, label] = JOB_STATE_LABELS[state] ?? ['idle', state];
  return <Badge tone={tone} title={`job state: ${state}`}>{label}</Badge>;
}

export function QueuePaused({ paused }: { paused: boolean }) {
  return paused ? <Badge tone="busy" title="workers take no new jobs">paused</Badge> : <Badge tone="ok" title="workers take new jobs">processing</Badge>;
}
