import type { ServerResponse } from 'node:http';
import { httpStatusOf, type ErrorEnvelope } from '../contract/errors';
import { isAppError } from '../errors';
import type { Services } from '../services/context';
import { driverMessage, outageError } from '../outage';
import { retryAfterFor, sendEnvelope } from './envelope';

/** Any error as the `{ code, message }` envelope; an unexpected one is logged and answered as a bare `internal`. */
function envelopeOfError(services: Pick<Services, 'log'> | null, err: unknown): ErrorEnvelope {
  if (isAppError(err)) return err.toEnvelope();
  const outage = outageError(err);
  if (outage) {
    services?.log.warn('request failed: dependency unavailable', { dependency: outage.details?.dependency, error: driverMessage(err) });
    return outage.toEnvelope();
  }
  services?.log.error('request failed', { err });
  return { code: 'internal', message: 'internal error' };
}

/** Renders any error as the `{ code, message }` envelope with its code's status. */
export function errorResponse(services: Pick<Services, 'log'> | null, err: unknown): Response {
  const envelope = envelopeOfError(services, err);
  const status = httpStatusOf(envelope.code);
  return Response.json(envelope, { status, headers: retryAfterFor(status) });
}

/** {@link errorResponse}, written straight to a Node response. */
export function sendError(services: Pick<Services, 'log'> | null, res: ServerResponse, err: unknown): void {
  sendEnvelope(res, envelopeOfError(services, err));
}
