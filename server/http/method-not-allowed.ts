import type { ServerResponse } from 'node:http';
import type { ErrorEnvelope } from '../contract/errors';
import { sendEnvelope } from './envelope';

function refusal(method: string, allow: string): ErrorEnvelope {
  return { code: 'method_not_allowed', message: `${method} is not supported here; use ${allow}` };
}

/** 405 for a method the path does not serve, with the methods it does (`Allow`, as HTTP requires). */
export function methodNotAllowed(method: string, allowed: readonly string[]): Response {
  const allow = allowed.join(', ');
  return Response.json(refusal(method, allow), { status: 405, headers: { allow } });
}

/** {@link methodNotAllowed}, written straight to a Node response. */
export function sendMethodNotAllowed(res: ServerResponse, method: string, allowed: readonly string[]): void {
  const allow = allowed.join(', ');
  sendEnvelope(res, refusal(method, allow), { allow });
}
