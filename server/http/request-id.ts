import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';

/** What a caller may choose as its request id: short, and safe in logs, headers and filters. */
const SANE_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's id: the caller's `X-Request-Id` (or `X-Trace-Id`) when it is a sane token, so
 * a CLI run or a proxy can follow its call into the audit log; otherwise a fresh UUID.
 */
export function requestIdOf(headers: Pick<Headers, 'get'>): string {
  for (const name of [REQUEST_ID_HEADER, 'x-trace-id']) {
    const value = headers.get(name)?.trim();
    if (value && SANE_ID_RE.test(value)) return value;
  }
  return randomUUID();
}

/** `res` answering with the request's id; a copy when its headers are immutable (a fetched response). */
export function withRequestId(res: Response, requestId: string): Response {
  try {
    res.headers.set(REQUEST_ID_HEADER, requestId);
    return res;
  } catch {
    const headers = new Headers(res.headers);
    headers.set(REQUEST_ID_HEADER, requestId);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  }
}
