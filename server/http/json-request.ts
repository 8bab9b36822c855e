import { AppError } from '../errors';
import { cappedRequest } from '../http/capped-body';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/** True when a Content-Type header names JSON (`application/json`, `application/problem+json`...). */
export function isJsonType(contentType: string | null): boolean {
  return JSON_TYPE.test((contentType ?? '').split(';', 1)[0]!.trim().toLowerCase());
}

/**
 * The REST request with its JSON body read (at most `maxBytes`) and checked before any
 * procedure sees it: the body must be a JSON object, because the REST adapter spreads it into
 * the input with the path parameters (an array or a string would spread into a valid-looking
 * object). A bodyless POST (`POST .../deactivate`: the whole input is in the path) becomes `{}`.
 */
export async function jsonRequest(req: Request, maxBytes: number): Promise<Request> {
  if (req.body === null) return req;
  const withBody = (body: string | null, headers: Headers) => new Request(req.url, { method: req.method, headers, body, signal: req.signal });
  const contentType = req.headers.get('content-type');
  if (req.method === 'DELETE') {
    // No REST input is read from a DELETE body: bounded, then dropped.
    await cappedRequest(req, maxBytes).arrayBuffer();
    const headers = new Headers(req.headers);
    for (const name of ['content-type', 'content-length', 'transfer-encoding']) headers.delete(name);
    return withBody(null, headers);
  }
  if (contentType !== null && !isJsonType(contentType)) {
    throw new AppError('unsupported_media_type', `send the body as JSON (Content-Type: application/json), not ${contentType}`);
  }
  const text = (await cappedRequest(req, maxBytes).text()).trim();
  if (text.length > 0 && contentType === null) throw new AppError('unsupported_media_type', 'send the body as JSON, with Content-Type: application/json');
  let body: unknown = {};
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError('bad_request', 'the request body is not valid JSON');
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AppError('bad_request', 'the request body must be a JSON object');
  const headers = new Headers(req.headers);
  headers.set('content-type', 'application/json');
  headers.delete('content-length');
  headers.delete('transfer-encoding');
  return withBody(text.length > 0 ? text : '{}', headers);
}
