import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { httpStatusOf, type ErrorEnvelope } from '../contract/errors';
import { createLogger, type Logger } from '../logger';
import { sendEnvelope } from './envelope';
import { sendMethodNotAllowed } from './method-not-allowed';
import { allowedMethods } from './router';
import { pathnameOf } from './node-request';

/** The methods any route serves; any other never reaches one (TRACE was a 500 under Next). */
const ROUTABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Failures of Node's HTTP parser, before any route runs; anything else is a malformed request. */
const CLIENT_ERRORS: Record<string, ErrorEnvelope> = {
  HPE_HEADER_OVERFLOW: { code: 'request_header_fields_too_large', message: 'the request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'request_timeout', message: 'the request did not arrive in time' },
};
const MALFORMED: ErrorEnvelope = { code: 'bad_request', message: 'malformed HTTP request' };

/** The envelope written straight to the socket: a parser error has no request or response object. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inResponse = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || inResponse) return void socket.destroy();
  const envelope = CLIENT_ERRORS[err.code ?? ''] ?? MALFORMED;
  const status = httpStatusOf(envelope.code);
  const body = JSON.stringify(envelope);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** What serves every request the edge lets through: the route table, and Next's handler for the portal. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * The control plane's HTTP server: node:http in front of `handle`, so that what never reaches
 * a route (a parser error such as 431, a method no route can take) still gets the
 * `{ code, message }` envelope.
 */
export function createHttpServer(handle: NodeHandler, log: Logger = createLogger()): Server {
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    if (!ROUTABLE.has(method)) {
      return sendMethodNotAllowed(res, method, allowedMethods(pathnameOf(req.url)));
    }
    handle(req, res).catch((err: unknown) => {
      log.error('request failed', { err });
      if (!res.headersSent) sendEnvelope(res, { code: 'internal', message: 'internal error' });
      else res.destroy();
    });
  });
  server.on('clientError', onClientError);
  return server;
}
