import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { EXIT } from '../errors';
import { table, type Output } from '../output';

function age(iso: string | null | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 129_600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** Apps with the deployment serving now, their health and instance count, and the latest attempt. */
export async function listCommand(opts: { format: 'text' | 'json'; team?: string }, env: CliEnv, out: Output): Promise<number> {
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const apps = await call('listing apps', () => api.apps.list.query(opts.team ? { team: opts.team } : undefined));
  if (opts.format === 'json') {
    out.json(apps);
    return EXIT.ok;
  }
  if (apps.length === 0) {
    out.info(opts.team ? `no applications in team ${opts.team}` : 'no applications yet; `aether deploy` in a Node project creates one');
    return EXIT.ok;
  }
  // HEALTH is how the instances do, apart from STATUS (the deployment's); URL is the stable one.
  const rows = [['APP', 'TEAM', 'STATUS', 'HEALTH', 'INSTANCES', 'DIGEST', 'URL', 'DEPLOYED', 'LATEST']];
  for (const a of apps) {
    const cur = a.current;
    const latest = a.latest && a.latest.id !== cur?.id ? `${a.latest.status} ${age(a.latest.created_at)} ago` : '-';
    const status = cur ? cur.status : 'not running';
    rows.push([a.name, a.team, status, a.health ?? '-', String(a.instances), cur ? cur.digest.slice(0, 12) : '-', a.url ?? '-', age(cur?.rollout_completed_at), latest]);
  }
  out.result(table(rows));
  return EXIT.ok;
}
