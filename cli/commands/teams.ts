import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { CliError, EXIT } from '../errors';
import { table, type Output } from '../output';
import { APP_NAME_RE } from '../../server/contract/app-name';

type Format = { format: 'text' | 'json' };

async function api(env: CliEnv, out: Output) {
  return createApi(await resolveConnection(env, (m) => out.warn(m)));
}

/** Team names follow the app-name rule (DNS labels). */
export function assertTeamName(name: string): void {
  if (!APP_NAME_RE.test(name)) throw new CliError(EXIT.usage, `invalid team name "${name}": use lowercase letters, digits and "-" (max 63)`);
}

export async function teamsListCommand(opts: Format, env: CliEnv, out: Output): Promise<number> {
  const teams = await call('listing teams', async () => (await api(env, out)).teams.list.query());
  if (opts.format === 'json') out.json(teams);
  else if (teams.length === 0) out.info('no teams you can see');
  else out.result(table([['TEAM', 'APPS', 'CREATED'], ...teams.map((t) => [t.name, String(t.apps), t.created_at.slice(0, 10)])]));
  return EXIT.ok;
}

export async function teamsCreateCommand(name: string, opts: Format, env: CliEnv, out: Output): Promise<number> {
  assertTeamName(name);
  const client = await api(env, out);
  const team = await call('creating team', () => client.teams.create.mutate({ name }));
  if (opts.format === 'json') out.json(team);
  else out.result(`created team ${team.name}`);
  return EXIT.ok;
}

/** Only an empty team can go: the server refuses one that still holds apps. */
export async function teamsDeleteCommand(name: string, opts: Format, env: CliEnv, out: Output): Promise<number> {
  assertTeamName(name);
  const client = await api(env, out);
  const res = await call('deleting team', () => client.teams.delete.mutate({ name }));
  if (opts.format === 'json') out.json({ name, ...res });
  else out.result(`deleted team ${name}`);
  return EXIT.ok;
}
