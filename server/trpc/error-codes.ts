import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import type { ErrorCode } from '../contract/errors';
import { isAppError } from '../errors';

/**
 * The one map between tRPC's error codes and ours, both ways: the error formatter, the REST
 * face (server/http/rest.ts) and the throwing side all read it here.
 */
const TRPC_CODE_BY_STATUS: Record<number, TRPC_ERROR_CODE_KEY> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_SUPPORTED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  500: 'INTERNAL_SERVER_ERROR',
  501: 'NOT_IMPLEMENTED',
  503: 'SERVICE_UNAVAILABLE',
  // tRPC has no 507: the nearest class is "cannot now, retry later". data.code stays insufficient_storage.
  507: 'SERVICE_UNAVAILABLE',
};

const CODE_BY_TRPC: Partial<Record<TRPC_ERROR_CODE_KEY, ErrorCode>> = {
  BAD_REQUEST: 'bad_request',
  PARSE_ERROR: 'bad_request',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  CONFLICT: 'conflict',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  METHOD_NOT_SUPPORTED: 'method_not_allowed',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  NOT_IMPLEMENTED: 'not_implemented',
  SERVICE_UNAVAILABLE: 'service_unavailable',
};

/** The tRPC code an error of this HTTP status travels as. */
export function trpcCodeOfStatus(status: number): TRPC_ERROR_CODE_KEY {
  return TRPC_CODE_BY_STATUS[status] ?? 'INTERNAL_SERVER_ERROR';
}

/** Our code for a tRPC code (tRPC's own failures: a parse error, an unknown procedure). */
export function errorCodeOfTrpc(code: string | undefined): ErrorCode {
  return CODE_BY_TRPC[code as TRPC_ERROR_CODE_KEY] ?? 'internal';
}

/**
 * The HTTP status of a one-call answer that failed with one of our errors, where tRPC's code
 * has no exact status of its own (`insufficient_storage` travels as SERVICE_UNAVAILABLE, but is
 * a 507). Batches keep tRPC's status.
 */
export function exactStatusOf(errors: ReadonlyArray<{ cause?: unknown }>, paths: readonly string[] | undefined): { status?: number } {
  const cause = errors.length === 1 && paths?.length === 1 ? errors[0]!.cause : undefined;
  return isAppError(cause) ? { status: cause.httpStatus } : {};
}
