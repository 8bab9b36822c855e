import { readSession, writeSession, type CliEnv, type Session } from './config';

/** A saved session; `expiresAt` is set for tokens `aether login` obtained by browser approval. */
export type CliSession = Session & { expiresAt?: string | null };

/** Renew this long before expiry: a deploy that starts now must not lose its token midway. */
export const REFRESH_WITHIN_MS = 3600_000;

/** True for a session token that still works but expires within the hour. */
export function needsRefresh(session: CliSession, now = new Date()): boolean {
  if (!session.expiresAt) return false;
  const left = Date.parse(session.expiresAt) - now.getTime();
  return Number.isFinite(left) && left > 0 && left <= REFRESH_WITHIN_MS;
}

/**
 * Swaps a session token that expires soon for a fresh one (`auth.refresh`, which revokes the
 * old token) and rewrites the session file. Never fails the command it runs before: when the
 * refresh cannot happen, the old token is still valid for a while and the command says so if
 * it stops working. Pasted tokens (`--token`) carry no expiry and are never touched.
 */
export async function maybeRefresh(session: CliSession, env: CliEnv, opts: { warn?: (msg: string) => void; now?: Date } = {}): Promise<CliSession> {
  const now = opts.now ?? new Date();
  if (!needsRefresh(session, now)) return session;
  // Loaded only when needed: most commands run with a token that has hours left.
  const { createApi, apiError } = await import('./client');
  try {
    const fresh = await createApi({ apiBase: session.apiBase, token: session.token }).auth.refresh.mutate({});
    const next: CliSession = { ...session, token: fresh.token, role: fresh.role, expiresAt: fresh.expires_at, savedAt: now.toISOString() };
    await writeSession(env, next);
    return next;
  } catch (err) {
    // Another aether process may have refreshed first: its session file holds the new token.
    const current = (await readSession(env, () => {}).catch(() => null)) as CliSession | null;
    if (current && current.token !== session.token) return current;
    opts.warn?.(`could not refresh the session (${apiError(err, 'refresh').message}); it expires at ${session.expiresAt}`);
    return session;
  }
}
