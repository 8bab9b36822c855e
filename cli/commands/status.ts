import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { EXIT } from '../errors';
import { healthText, plural } from '../lifecycle/describe';
import type { Output } from '../output';

/**
 * One deployment: status, where it answers, and each phase with its duration. For the running
 * one, the app's health too: how its instances do now, which the rollout's status does not say.
 */
export async function statusCommand(id: string, opts: { format: 'text' | 'json' }, env: CliEnv, out: Output): Promise<number> {
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const [deployment, events] = await Promise.all([
    call('reading deployment', () => api.deployments.get.query({ id })),
    call('reading deployment events', () => api.deployments.events.query({ id })),
  ]);
  const app = deployment.status === 'running' ? await call('reading app', () => api.apps.get.query({ app_name: deployment.app_name })) : null;
  const appHealth = app ? { health: app.health, health_message: app.health_message, instances: app.instances } : null;
  if (opts.format === 'json') {
    out.json({ ...deployment, events, app_health: appHealth });
    return EXIT.ok;
  }
  const lines = [
    `deployment ${deployment.id} of ${deployment.app_name}`,
    `  status   ${deployment.status}${deployment.failure_reason ? ` (${deployment.failure_reason})` : ''}`,
    `  digest   ${deployment.digest}`,
    `  url      ${deployment.url ?? '-'}`,
    // The app's now, apart from the rollout's status above.
    ...(app ? [`  health   ${healthText(app)}, ${plural(app.instances)}`] : []),
    `  by       ${deployment.created_by} at ${deployment.created_at}`,
    ...(deployment.rollback_of ? [`  rollback of ${deployment.rollback_of}`] : []),
    '  phases:',
    ...events.map((e) => `    ${e.phase.padEnd(11)} ${e.message.split('\n')[0]}${e.duration_ms !== null ? ` (${e.duration_ms} ms)` : ''}`),
  ];
  // Why it failed, with the app's last output lines, is the one multi-line message worth showing.
  const failure = events.findLast((e) => e.phase === 'failed');
  if (deployment.status === 'failed' && failure?.message.includes('\n')) lines.push('', ...failure.message.split('\n').map((l) => `  ${l}`));
  out.result(lines.join('\n'));
  return EXIT.ok;
}
