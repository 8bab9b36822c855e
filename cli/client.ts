import { TRPCClientError, createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from '../server/trpc/root';
import { requireToken, type Connection } from './config';
import { CliError, exitCodeForServerCode, isNetworkError, toCliError } from './errors';
import { httpFetch } from './http-request';

export type Api = ReturnType<typeof createApi>;

/** The typed control-plane client. Only the router's type crosses over from the server. */
export function createApi(conn: Connection, opts: { traceId?: string } = {}) {
  const token = requireToken(conn);
  return createTRPCClient<AppRouter>({
    links: [
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
    if (isNetworkError(err.cause) || (!err.data && isNetworkError(err))) return toCliError(err.cause ?? err);
    const code = serverCode(err);
    const hint = code === 'unauthorized' ? 'run `aether login` (or pass --token / set AETHER_TOKEN)' : undefined;
    return new CliError(exitCodeForServerCode(code), `${doing}: ${err.message}${code ? ` (${code})` : ''}`, hint, code);
  }
  return toCliError(err);
}

/** Runs one API call, mapping failures to CliError. */
export async function call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw apiError(err, doing);
  }
}
