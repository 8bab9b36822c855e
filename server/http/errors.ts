import type { ServerResponse } from 'node:http';
import { httpStatusOf, type ErrorEnvelope } from '../contract/errors';
import { isAppError } from '../errors';
import type { Services } from '../services/context';
import { sendEnvelope } from './envelope';

/** Any error as the `{ code, message }` envelope; an unexpected one is logged and answered as a bare `internal`. */
function envelopeOfError(services: Pick<Services, 'log'> | null, err: unknown): ErrorEnvelope {
  if (isAppError(err)) return err.toEnvelope();
  services?.log.error('request failed', { err });
  return { code: 'internal', message: 'internal error' };
}

/** Renders any error as the `{ code, message }` envelope with its code's status. */
export function errorResponse(services: Pick<Services, 'log'> | null, err: unknown): Response {
  const envelope = envelopeOfError(services, err);
  return Response.json(envelope, { status: httpStatusOf(envelope.code) });
}

/** {@link errorResponse}, written straight to a Node response. */
export function sendError(services: Pick<Services, 'log'> | null, res: ServerResponse, err: unknown): void {
  sendEnvelope(res, envelopeOfError(services, err));
}
