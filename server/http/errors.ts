import type { ServerResponse } from 'node:http';
import { isAppError } from '../errors';
import { sendEnvelope } from './envelope';
import type { Services } from '../services/context';

/** Renders any error as the `{ code, message }` envelope; unexpected ones as a bare `internal`. */
export function errorResponse(services: Pick<Services, 'log'> | null, err: unknown): Response {
  if (isAppError(err)) return Response.json(err.toEnvelope(), { status: err.httpStatus });
  services?.log.error('request failed', { err });
  return Response.json({ code: 'internal', message: 'internal error' }, { status: 500 });
}

/** `errorResponse`, written straight to a Node response. */
export function sendError(services: Pick<Services, 'log'> | null, res: ServerResponse, err: unknown): void {
  if (isAppError(err)) return sendEnvelope(res, err.toEnvelope());
  services?.log.error('request failed', { err });
  sendEnvelope(res, { code: 'internal', message: 'internal error' });
}
