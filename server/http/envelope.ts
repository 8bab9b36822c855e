import type { ServerResponse } from 'node:http';
import { httpStatusOf, type ErrorEnvelope } from '../contract/errors';
import { RETRY_AFTER_SECS } from '../outage';

/** A 503 tells the client when to come back; every face adds this to the headers it sends. */
export function retryAfterFor(status: number, headers: Record<string, string | string[]> = {}): Record<string, string> {
  return status === 503 && !('retry-after' in headers) ? { 'retry-after': String(RETRY_AFTER_SECS) } : {};
}

/** Writes the `{ code, message }` envelope with the code's HTTP status. */
export function sendEnvelope(res: ServerResponse, envelope: ErrorEnvelope, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(envelope);
  const status = httpStatusOf(envelope.code);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...retryAfterFor(status, headers), ...headers });
  res.end(body);
}
