import type { V1Pod } from '@kubernetes/client-node';
import type { AppHealth, InstanceStatus, RuntimeStatus } from '../port';

/**
 * An app's health from its pods, as the local driver's supervisor reports it:
 * - `stopped`: no replica wanted (pods may still be terminating);
 * - `crash_loop`: a container of a pod waits in CrashLoopBackOff (the kubelet's back-off);
 * - `healthy`: at least as many pods ready as wanted;
 * - `degraded`: some ready, fewer than wanted;
 * - `restarting`: none ready (starting, or restarted by the kubelet).
 */
export function runtimeStatusOf(pods: readonly V1Pod[], desired: number): RuntimeStatus {
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  const instances: InstanceStatus[] = live.map((pod) => ({
    id: String(pod.metadata?.name),
    ready: isReady(pod),
    restarts: (pod.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
  }));
  return { health: healthOf(live, instances, desired), instances };
}

function healthOf(pods: readonly V1Pod[], instances: readonly InstanceStatus[], desired: number): AppHealth {
  if (desired === 0) return 'stopped';
  if (pods.some(isCrashLooping)) return 'crash_loop';
  const ready = instances.filter((i) => i.ready).length;
  if (ready >= desired) return 'healthy';
  return ready > 0 ? 'degraded' : 'restarting';
}

export function isReady(pod: V1Pod): boolean {
  return Boolean(pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

export function isCrashLooping(pod: V1Pod): boolean {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return statuses.some((c) => c.state?.waiting?.reason === 'CrashLoopBackOff');
}
