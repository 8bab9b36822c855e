import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { RolloutFailureReason } from '../port';
import { decodeTerminationMessage, outcomeOfExitCode, type FetchOutcome, type FetchPhase } from './fetch-protocol';
import { APP_CONTAINER, INIT_CONTAINER } from './names';

/** What one pod of the new deployment tells about the rollout, read from its status alone. */
export interface PodObservation {
  name: string;
  /** The init container failed (now, or before its current restart). */
  initFailure: { reason: RolloutFailureReason; message: string } | null;
  /** The init container finished; its phases when its termination message carried them. */
  initDone: { phases: FetchPhase[] | null } | null;
  appStarted: boolean;
  /** The app container exited or is crash-looping: a server is not supposed to exit. */
  appCrash: { how: string; restartCount: number; previous: boolean; message: string | null } | null;
  ready: boolean;
  /** Why a container is waiting (ImagePullBackOff...), for a timeout's message. */
  waitingReason: string | null;
}

const REASON_OF: Record<FetchOutcome, RolloutFailureReason> = {
  ok: 'fetch_failed',
  internal: 'fetch_failed',
  config: 'fetch_failed',
  fetch_failed: 'fetch_failed',
  digest_mismatch: 'digest_mismatch',
  archive_refused: 'archive_refused',
  // The artifact has nothing to start: it could never run, as the local driver says.
  no_start_command: 'crashed_on_start',
};

export function observePod(pod: V1Pod): PodObservation {
  const status = pod.status ?? {};
  const init = status.initContainerStatuses?.find((c) => c.name === INIT_CONTAINER);
  const app = status.containerStatuses?.find((c) => c.name === APP_CONTAINER);
  const ready = Boolean(status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  return {
    name: String(pod.metadata?.name),
    initFailure: initFailureOf(init),
    initDone: initDoneOf(init),
    appStarted: Boolean(app?.state?.running || app?.started || (app?.restartCount ?? 0) > 0 || app?.state?.terminated),
    appCrash: appCrashOf(app),
    ready,
    waitingReason: app?.state?.waiting?.reason ?? init?.state?.waiting?.reason ?? null,
  };
}

function initFailureOf(init: V1ContainerStatus | undefined): PodObservation['initFailure'] {
  // A failed init container is restarted with a back-off: the failure is then in lastState,
  // unless the retry has since succeeded.
  if (init?.state?.terminated?.exitCode === 0) return null;
  const t = init?.state?.terminated ?? init?.lastState?.terminated;
  if (!t || t.exitCode === 0) return null;
  const decoded = decodeTerminationMessage(t.message);
  const outcome = decoded && !decoded.ok ? decoded.outcome : outcomeOfExitCode(t.exitCode);
  const detail = decoded && !decoded.ok ? decoded.message : (t.message?.trim() || t.reason || 'no message');
  return { reason: REASON_OF[outcome], message: `init container ${INIT_CONTAINER} exited with code ${t.exitCode} (${outcome}): ${detail}` };
}

function initDoneOf(init: V1ContainerStatus | undefined): PodObservation['initDone'] {
  const t = init?.state?.terminated;
  if (!t || t.exitCode !== 0) return null;
  const decoded = decodeTerminationMessage(t.message);
  return { phases: decoded?.ok ? decoded.phases : null };
}

function appCrashOf(app: V1ContainerStatus | undefined): PodObservation['appCrash'] {
  // A pod that restarted once and serves again is not a failed start (restore finds such pods).
  if (!app || app.ready) return null;
  const current = app.state?.terminated;
  const last = app.lastState?.terminated;
  const t = current ?? last;
  if (!t && app.state?.waiting?.reason !== 'CrashLoopBackOff') return null;
  const how = !t ? 'crash loop' : t.reason === 'OOMKilled' ? 'killed: out of memory' : t.signal ? `signal ${t.signal}` : `exit code ${t.exitCode}`;
  return { how, restartCount: app.restartCount ?? 0, previous: !current, message: t?.message?.trim() || null };
}
