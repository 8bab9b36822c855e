import 'server-only';
import { TRPCError } from '@trpc/server';
import { ZodError, z } from 'zod';
import { isErrorCode, type ErrorCode } from '@/server/contract/errors';
import { isAppError } from '../../server/errors';
import { ERROR_TITLES } from './plain-words';

export interface ShownError {
  code: ErrorCode;
  title: string;
  message: string;
}

/**
 * What a person sees for a failed call: the code, a title for it and the server's message.
 * Anything that is not a domain error becomes `internal` with a generic message: stacks and
 * internals never reach the page.
 */
export function describeError(err: unknown): ShownError {
  const cause = err instanceof TRPCError ? (err.cause ?? err) : err;
  if (isAppError(cause)) return shown(cause.code, cause.message);
  if (cause instanceof ZodError) {
    const flat = z.flattenError(cause);
    const parts = [...flat.formErrors, ...Object.entries(flat.fieldErrors).map(([k, v]) => `${k}: ${(v as string[]).join('; ')}`)];
    return shown('bad_request', parts.join(', '));
  }
  if (err instanceof TRPCError && err.code === 'BAD_REQUEST') return shown('bad_request', err.message);
  console.error('portal call failed', err);
  return shown('internal', 'The request failed unexpectedly. Try again; if it keeps failing, tell the platform team.');
}

function shown(code: string, message: string): ShownError {
  const c: ErrorCode = isErrorCode(code) ? code : 'internal';
  return { code: c, title: ERROR_TITLES[c] ?? ERROR_TITLES.internal!, message };
}
