import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { deploymentFailed, followDeployment } from '../deploy/remote';
import { CliError, EXIT } from '../errors';
import type { Output } from '../output';
import { resolveTargetApp } from '../project';

export interface RollbackOptions {
  app?: string;
  /** A deployment id of the app; default: the one that ran before the current one. */
  to?: string;
  yes?: boolean;
  wait: boolean;
  format: 'text' | 'json';
  cwd: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `aether rollback`: the control plane starts a new deployment of an earlier stored artifact
 * (nothing is packed or uploaded); this follows it to running or failed, like `deploy`.
 * It changes what serves traffic, so without a TTY it needs --yes; on a TTY it asks.
 */
export async function rollbackCommand(opts: RollbackOptions, env: CliEnv, out: Output): Promise<number> {
  if (opts.to !== undefined && !UUID_RE.test(opts.to)) throw new CliError(EXIT.usage, `--to must be a deployment id (a uuid), got "${opts.to}"`, 'aether status <id> or the portal shows them');
  const { app, settings } = await resolveTargetApp(opts.app, opts.cwd, env, (m) => out.warn(m));
  const target = opts.to ? `deployment ${opts.to}` : 'the deployment that ran before the current one';
  if (!opts.yes) {
    if (!process.stdin.isTTY || env.CI) throw new CliError(EXIT.usage, `refusing to roll back "${app}" without --yes`, 'pass --yes to confirm');
    const { confirm, isCancel } = await import('@clack/prompts');
    const answer = await confirm({ message: `Roll back ${app} to ${target}?`, initialValue: false });
    if (isCancel(answer) || !answer) throw new CliError(EXIT.usage, 'cancelled');
  }
  const api = createApi(await resolveConnection(env, (m) => out.warn(m), settings));
  const { deployment, created } = await call('rolling back', () => api.deployments.rollback.mutate({ app_name: app, ...(opts.to ? { to: opts.to } : {}) }));
  out.info(`${created ? 'started' : 'joined in-flight'} rollback ${deployment.id} of ${app} to ${deployment.rollback_of} (${deployment.digest.slice(0, 12)})`);
  const final = opts.wait ? await followDeployment(api, deployment, out) : deployment;

  if (opts.format === 'json') out.json({ deployment: final });
  else if (final.status === 'running') out.result(`rolled back ${app} to ${final.digest.slice(0, 12)}: ${final.url}`);
  else out.result(`rollback ${final.id} is ${final.status}${final.failure_reason ? `: ${final.failure_reason}` : ''}`);
  if (final.status === 'failed') {
    throw deploymentFailed('rollback', final, `aether status ${final.id} shows why; the previous deployment keeps serving`);
  }
  return EXIT.ok;
}
