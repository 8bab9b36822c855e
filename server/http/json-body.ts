import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors';
import { DRAIN_MAX_BYTES, DRAIN_MAX_MS } from './request-body';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/** True when a Content-Type header names JSON (`application/json`, `application/problem+json`...). */
function isJsonType(contentType: string | null): boolean {
  return JSON_TYPE.test((contentType ?? '').split(';', 1)[0]!.trim().toLowerCase());
}

/**
 * The REST input in a request's body, read (at most `maxBytes`) and checked before any
 * procedure sees it: it must be a JSON object, because the REST adapter spreads it into the
 * input with the path parameters (an array or a string would spread into a valid-looking
 * object). A bodyless POST (`POST .../deactivate`: the whole input is in the path) reads as
 * `{}`. GET and HEAD carry no input in a body, and a DELETE body is read (bounded) and dropped:
 * undefined for those.
 */
export async function readJsonBody(
  req: IncomingMessage,
  maxBytes: number,
): Promise<Record<string, unknown> | undefined> {
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (method === 'DELETE') {
    await readBody(req, maxBytes);
    return undefined;
  }
  const contentType = req.headers['content-type'] ?? null;
  if (contentType !== null && !isJsonType(contentType)) {
    discardRest(req);
    throw new AppError(
      'unsupported_media_type',
      `send the body as JSON (Content-Type: application/json), not ${contentType}`,
    );
  }
  const text = (await readBody(req, maxBytes)).toString('utf8').trim();
  if (text.length === 0) return {};
  if (contentType === null)
    throw new AppError('unsupported_media_type', 'send the body as JSON, with Content-Type: application/json');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AppError('bad_request', 'the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new AppError('bad_request', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

/**
 * The whole body, refused with `payload_too_large` past `maxBytes`: at once when the declared
 * Content-Length is over, else as soon as the count crosses it, never buffering past the cap.
 * The unread rest is then drained (bounded), so the client still reads the 413.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new AppError('payload_too_large', `request body is larger than ${maxBytes} bytes`);
  // Gone before we listened (the client hung up while the services booted): no event would come.
  if (req.destroyed) return Promise.reject(new AppError('bad_request', 'request body ended early'));
  if (Number(req.headers['content-length'] ?? Number.NaN) > maxBytes) {
    discardRest(req);
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let seen = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.byteLength;
      if (seen <= maxBytes) return void chunks.push(chunk);
      stop();
      discardRest(req);
      reject(tooLarge());
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, seen));
    };
    // The client went away mid-body: its fault, not a 500.
    const onClose = () => {
      stop();
      reject(new AppError('bad_request', 'request body ended early'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
}

/**
 * Reads and throws away what the client still sends after an early answer, so an HTTP/1.1
 * client still sending sees the answer rather than EPIPE; past DRAIN_MAX_BYTES or
 * DRAIN_MAX_MS the connection is cut instead.
 */
function discardRest(req: IncomingMessage): void {
  if (req.readableEnded || req.destroyed) return;
  let discarded = 0;
  const cut = () => req.destroy();
  const timer = setTimeout(cut, DRAIN_MAX_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.byteLength;
    if (discarded > DRAIN_MAX_BYTES) cut();
  });
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
