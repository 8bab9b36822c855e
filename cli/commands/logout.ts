import { rm } from 'node:fs/promises';
import { apiError, createApi } from '../client';
import { readSession, sessionPath, type CliEnv } from '../config';
import { CliError, EXIT, isNetworkError } from '../errors';
import type { Output } from '../output';
import type { CliSession } from '../session-refresh';

/**
 * Revokes the session's token on the server (database tokens; environment tokens are only
 * forgotten) and deletes the session file. Offline, the file still goes: logging out must
 * always work locally, and the user is told the token lives on until it expires.
 */
export async function logoutCommand(env: CliEnv, out: Output): Promise<number> {
  const file = sessionPath(env);
  let session: CliSession | null = null;
  try {
    session = await readSession(env, (m) => out.warn(m));
  } catch (err) {
    // A corrupt session file is still removed; there is nothing in it we can revoke.
    if (!(err instanceof CliError)) throw err;
  }
  if (session) await revoke(session, out);
  await rm(file, { force: true });
  out.info(session ? `logged out; removed ${file}` : `not logged in; nothing at ${file}`);
  if (env.AETHER_TOKEN) out.warn('AETHER_TOKEN is still set in this shell and commands will keep using it');
  return EXIT.ok;
}

async function revoke(session: CliSession, out: Output): Promise<void> {
  try {
    const res = await createApi({ apiBase: session.apiBase, token: session.token }).auth.logout.mutate({});
    if (res.revoked) out.info(`revoked the session token on ${session.apiBase}`);
    else out.info('the token is configured on the server and stays valid (only an operator can retire it)');
  } catch (err) {
    const cliErr = apiError(err, 'revoking the token');
    const until = session.expiresAt ? `until ${session.expiresAt}` : 'until an admin revokes it';
    if (isNetworkError(err) || cliErr.exitCode === EXIT.network) out.warn(`cannot reach ${session.apiBase}: the token was not revoked and stays valid ${until}`);
    else if (cliErr.code === 'unauthorized') out.info('the token had already expired or been revoked');
    else out.warn(`${cliErr.message}: the token stays valid ${until}`);
  }
}
