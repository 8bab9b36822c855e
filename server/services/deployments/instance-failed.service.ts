import { deploymentTopic } from '../../queues/notifier';
import type { Services } from '../context';
import { transitionDeployment } from './deployments.repo';

/** What a runtime reports when it stopped a running instance on its own (a limit it hit). */
export interface InstanceFailure {
  deploymentId: string;
  reason: string;
  message: string;
}

/**
 * A running deployment's instance was stopped by the runtime: the deployment is `failed` with
 * the runtime's words as its event, so its status never claims an app that no longer answers.
 */
export async function recordInstanceFailure(svc: Pick<Services, 'db' | 'notifier' | 'log'>, f: InstanceFailure): Promise<void> {
  svc.log.warn('instance stopped by the runtime', { deploymentId: f.deploymentId, reason: f.reason, message: f.message });
  const row = await transitionDeployment(svc.db, f.deploymentId, ['running', 'rolling_out'], 'failed', { failureReason: f.reason }, { phase: 'failed', message: `${f.reason}: ${f.message}` });
  if (row) await svc.notifier.publish(deploymentTopic(f.deploymentId));
}
