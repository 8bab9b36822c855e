import { call, createApi } from '../client';
import { readSession, resolveConnection, type CliEnv } from '../config';
import { CliError, EXIT } from '../errors';
import type { Output } from '../output';
import type { CliSession } from '../session-refresh';

export interface WhoamiResult {
  name: string;
  role: string;
  api_base: string;
  /** Null when unknown: pasted (`--token`) and environment tokens. */
  expires_at: string | null;
  source: 'session' | 'env';
  /** The teams the token is limited to; null: every team; undefined: not asked (offline). */
  teams?: string[] | null;
}

function describeLeft(iso: string, now: number): string {
  const mins = Math.round((Date.parse(iso) - now) / 60_000);
  return mins >= 90 ? `in ${Math.floor(mins / 60)}h ${mins % 60}m` : `in ${mins} min`;
}

/**
 * Who the CLI acts as. From the session file, without a network call (works offline); with
 * AETHER_TOKEN set, that token is what commands use, so the server is asked instead.
 */
export async function whoamiCommand(opts: { format: 'text' | 'json' }, env: CliEnv, out: Output): Promise<number> {
  const now = Date.now();
  let result: WhoamiResult;
  if (env.AETHER_TOKEN) {
    const conn = await resolveConnection(env, (m) => out.warn(m));
    const who = await call('asking who AETHER_TOKEN is', () => createApi(conn).session.whoami.query());
    result = { name: who.name, role: who.role, api_base: conn.apiBase, expires_at: null, source: 'env', teams: who.teams };
  } else {
    const session = (await readSession(env, (m) => out.warn(m))) as CliSession | null;
    if (!session) throw new CliError(EXIT.config, 'not logged in', 'run `aether login`');
    const expiresAt = session.expiresAt ?? null;
    if (expiresAt && Date.parse(expiresAt) <= now) throw new CliError(EXIT.config, `the session expired at ${expiresAt}`, 'run `aether login`');
    result = { name: session.user, role: session.role, api_base: session.apiBase, expires_at: expiresAt, source: 'session' };
  }
  if (opts.format === 'json') {
    out.json(result);
    return EXIT.ok;
  }
  const expiry = result.expires_at ? `${result.expires_at} (${describeLeft(result.expires_at, now)})` : 'not known to the CLI';
  const teams = result.teams === undefined ? '' : `\nteams     ${result.teams === null ? 'all' : result.teams.join(', ')}`;
  out.result(`${result.name} (${result.role})\napi base  ${result.api_base}\nexpires   ${expiry}\nfrom      ${result.source === 'env' ? 'AETHER_TOKEN' : 'session file'}${teams}`);
  return EXIT.ok;
}
