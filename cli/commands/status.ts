import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { EXIT } from '../errors';
import type { Output } from '../output';

/** One deployment: status, where it answers, and each phase with its duration. */
export async function statusCommand(id: string, opts: { format: 'text' | 'json' }, env: CliEnv, out: Output): Promise<number> {
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const [deployment, events] = await Promise.all([
    call('reading deployment', () => api.deployments.get.query({ id })),
    call('reading deployment events', () => api.deployments.events.query({ id })),
  ]);
  if (opts.format === 'json') {
    out.json({ ...deployment, events });
    return EXIT.ok;
  }
  const lines = [
    `deployment ${deployment.id} of ${deployment.app_name}`,
    `  status   ${deployment.status}${deployment.failure_reason ? ` (${deployment.failure_reason})` : ''}`,
    `  digest   ${deployment.digest}`,
    `  url      ${deployment.url ?? '-'}`,
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
