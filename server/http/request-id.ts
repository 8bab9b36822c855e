import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';
export const TRACE_ID_HEADER = 'x-trace-id';

/** What a caller may choose as its request id: short, and safe in logs, headers and filters. */
const SANE_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's id: the caller's `X-Request-Id` (or `X-Trace-Id`) when it is a sane token, so
 * a CLI run or a proxy can follow its call into the audit log; otherwise a fresh UUID.
 */
export function requestIdOf(headers: Pick<Headers, 'get'>): string {
  return saneHeader(headers, REQUEST_ID_HEADER) ?? saneHeader(headers, TRACE_ID_HEADER) ?? randomUUID();
}

/** The caller's `X-Trace-Id` when sane (a CLI run's one id over all its calls), else the request's id. */
export function traceIdOf(headers: Pick<Headers, 'get'>, requestId: string): string {
  return saneHeader(headers, TRACE_ID_HEADER) ?? requestId;
}

function saneHeader(headers: Pick<Headers, 'get'>, name: string): string | null {
  const value = headers.get(name)?.trim();
  return value && SANE_ID_RE.test(value) ? value : null;
}
