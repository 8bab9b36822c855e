import { isFromDatabase, sqlState } from '../db/errors';
import { AppError } from './errors';

/** What a client is told is down. */
export type Dependency = 'database' | 'job queue' | 'object storage' | 'a backing service';

/** Seconds a client should wait before retrying a 503 (the `Retry-After` header). */
export const RETRY_AFTER_SECS = 2;

// postgres.js's own codes for a connection lost, never made, or closed under a query.
const PG_CLIENT_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);
// SQLSTATEs of a server that cannot take the statement now, rather than of a bad statement:
// admin/crash shutdown, starting up, too many connections, and statement_timeout.
const PG_UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '57014']);
const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
]);
// ioredis rejects commands with these while its link is down (offline queue off, retries spent, timeout).
const REDIS_MESSAGES = [
  /^Connection is closed\.?$/,
  /enableOfflineQueue options is false/,
  /^Command timed out$/,
  /max retries per request limit/i,
];

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** The error and its causes, outermost first (drizzle, BullMQ and the AWS SDK wrap). */
function* chain(err: unknown): Generator<ErrorLike> {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    yield e as ErrorLike;
    e = (e as ErrorLike).cause;
  }
}

/**
 * Which dependency an error says is unreachable, timed out or refusing work; null for anything
 * else (a bug, a constraint, a bad statement), which stays a 500.
 */
export function unavailableDependency(err: unknown): Dependency | null {
  let sawQuery = false;
  let sawNetwork = false;
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    if (e.name === 'DrizzleQueryError' || message.startsWith('Failed query: ') || isFromDatabase(e)) sawQuery = true;
    if (PG_CLIENT_CODES.has(code)) return 'database';
    const state = sqlState(e);
    if (state && (state.startsWith('08') || PG_UNAVAILABLE_STATES.has(state))) return 'database';
    if (e.name === 'MaxRetriesPerRequestError' || REDIS_MESSAGES.some((re) => re.test(message))) return 'job queue';
    if (e.$metadata) {
      const status = e.$metadata.httpStatusCode;
      if (status === undefined || status >= 500 || e.name === 'TimeoutError' || NETWORK_ERRNOS.has(code))
        return 'object storage';
      return null;
    }
    if (NETWORK_ERRNOS.has(code)) sawNetwork = true;
  }
  if (sawNetwork) return sawQuery ? 'database' : 'a backing service';
  return null;
}

/** The 503 a dependency outage is answered with, or null when `err` is not one. */
export function outageError(err: unknown): AppError | null {
  const dependency = unavailableDependency(err);
  if (!dependency) return null;
  const what = dependency === 'a backing service' ? 'a backing service is' : `the ${dependency} is`;
  return new AppError('service_unavailable', `${what} unavailable; retry shortly`, { dependency });
}

/** The innermost message, for logs: drizzle's wrapper repeats the query's parameters, which may be secret. */
export function driverMessage(err: unknown): string {
  let last: ErrorLike | undefined;
  for (const e of chain(err)) last = e;
  return typeof last?.message === 'string' ? last.message : String(err);
}

/**
 * How a job's failure says a dependency outage caused it. BullMQ keeps only the message (as the
 * job's failedReason): the maintenance sweep re-runs such jobs once the dependency is back, and
 * no other failed job (a bug is not fixed by running it again every minute).
 */
const OUTAGE_FAILURE_PREFIX = 'dependency unavailable: ';

/** `err` as a job's failure: an outage becomes an error whose message says so (driver message only, no parameters). */
export function asJobFailure(err: unknown): unknown {
  const dependency = unavailableDependency(err);
  if (!dependency) return err;
  return new Error(`${OUTAGE_FAILURE_PREFIX}${dependency} (${driverMessage(err)})`, { cause: err });
}

export const isOutageFailure = (failedReason: string | undefined): boolean => failedReason?.startsWith(OUTAGE_FAILURE_PREFIX) ?? false;
