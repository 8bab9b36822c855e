import type { ServerResponse } from 'node:http';
import { httpStatusOf, type ErrorEnvelope } from '../contract/errors';

/** Writes the `{ code, message }` envelope with the code's HTTP status. */
export function sendEnvelope(res: ServerResponse, envelope: ErrorEnvelope, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(envelope);
  res.writeHead(httpStatusOf(envelope.code), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
