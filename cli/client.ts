import { TRPCClientError, createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from '../server/trpc/root';
import { requireToken, type Connection } from './config';
import { CliError, exitCodeForServerCode, isNetworkError, toCliError } from './errors';
import { httpFetch } from './http-request';
import { retryHistory, waitedFor } from './retry';
import { retryLink } from './retry-link';
import { DEFAULT_RETRY_MAX_SECS } from './retry-policy';

export type Api = ReturnType<typeof createApi>;

/**
 * The typed control-plane client. Only the router's type crosses over from the server. With
 * `conn.retry`, idempotent calls wait out an unavailable control plane (retry-link.ts).
 */
export function createApi(conn: Connection, opts: { traceId?: string } = {}) {
  const token = requireToken(conn);
  return createTRPCClient<AppRouter>({
    links: [
      ...(conn.retry ? [retryLink(conn.retry)] : []),
      httpLink({
        url: `${conn.apiBase}/api/trpc`,
        fetch: httpFetch as unknown as typeof fetch,
        // X-Trace-Id ties every request of one deploy together in the control plane's logs.
        headers: () => ({ authorization: `Bearer ${token}`, 'user-agent': 'aether-cli', ...(opts.traceId ? { 'x-trace-id': opts.traceId } : {}) }),
      }),
    ],
  });
}

/** The server's stable error code from a tRPC error, if it sent one. */
export function serverCode(err: unknown): string | undefined {
  if (err instanceof TRPCClientError) return (err.data as { code?: string } | undefined)?.code;
  return undefined;
}

/** Turns a failed call into a CliError with the right exit code and the server's message. */
export function apiError(err: unknown, doing: string): CliError {
  if (err instanceof TRPCClientError) {
    if (isNetworkError(err.cause) || (!err.data && isNetworkError(err))) {
      const cliErr = toCliError(err.cause ?? err);
      const waited = waitedFor(err);
      return waited ? new CliError(cliErr.exitCode, `${cliErr.message}${waited}`, cliErr.hint, cliErr.code) : cliErr;
    }
    const code = serverCode(err);
    const hint = code === 'unauthorized' ? 'run `aether login` (or pass --token / set AETHER_TOKEN)' : retryHistory(err) ? STILL_DOWN_HINT : undefined;
    return new CliError(exitCodeForServerCode(code), `${doing}: ${err.message}${code ? ` (${code})` : ''}${waitedFor(err)}`, hint, code);
  }
  return toCliError(err);
}

const STILL_DOWN_HINT = `try again later; AETHER_RETRY_MAX_SECS sets how long a command waits (default ${DEFAULT_RETRY_MAX_SECS})`;

/** Runs one API call, mapping failures to CliError. */
export async function call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw apiError(err, doing);
  }
}
