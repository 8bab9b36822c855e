import { httpStatusOf, isErrorCode, type ErrorCode, type ErrorEnvelope } from './contract/errors';

/**
 * Marks our errors. Next bundles route handlers separately, so one process can hold two
 * copies of this module and `instanceof AppError` fails across them (a client's mistake then
 * answered 500). `Symbol.for` is the same symbol in every copy: test for it with `isAppError`.
 */
const APP_ERROR = Symbol.for('aether.AppError');

/**
 * A failure the client should see, with a stable code. Anything else that escapes a service
 * is a bug and reaches clients as `internal` with a generic message.
 */
export class AppError extends Error {
  readonly [APP_ERROR] = true;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }

  toEnvelope(): ErrorEnvelope {
    return { code: this.code, message: this.message };
  }
}

/** True for an AppError from any copy of this module. Never use `instanceof AppError`. */
export function isAppError(err: unknown): err is AppError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { [APP_ERROR]?: unknown })[APP_ERROR] === true &&
    isErrorCode((err as { code?: unknown }).code)
  );
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
